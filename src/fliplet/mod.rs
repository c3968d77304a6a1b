//! The Fliplet REST API client: the only code that speaks HTTP to Fliplet.
//!
//! Regions, the `Auth-token` header, retries with backoff for transient failures, and typed
//! errors. The API facts it relies on are in `docs/fliplet-api.md`.

mod client;
pub mod keystore;
pub mod media;

pub use client::{
    ApiError, Client, ClientOptions, CommitRequest, CommitRow, DataSource, Organization,
    PulledEntry, RemoteEntry, RetryPolicy, USER_AGENT, User, base_url_for_token, region_of,
};
pub use keystore::{KeySource, KeystoreError, RunKey, keystore_key};
pub use media::{MediaFile, MediaFolder, MediaListing, MediaMetadata, UPLOAD_FOLDER_NAME};
