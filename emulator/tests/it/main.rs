//! Integration tests of the Fliplet emulator over real HTTP. Test names start with the
//! number of the spec's §9 item they cover (see emulator/README.md).

mod common;

mod auth;
mod commit;
mod control;
mod data_sources;
mod entries;
mod limits;
mod media;
mod query;
