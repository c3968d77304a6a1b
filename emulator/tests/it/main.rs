//! Integration tests of the Fliplet emulator over real HTTP. Test names start with the
//! number of the behaviour they cover
//! (docs/fliplet-api.md, "Behaviours the emulator is tested for"); emulator/README.md maps
//! each behaviour to its tests.

mod common;

mod auth;
mod commit;
mod control;
mod data_sources;
mod entries;
mod limits;
mod media;
mod query;
