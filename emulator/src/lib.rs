//! Fliplet REST API emulator (see README.md in this folder).
