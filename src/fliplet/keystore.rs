//! The organization keystore (docs/fliplet-api.md, "Keystore"): where the field-encryption
//! key lives when a job does not configure one.
//!
//! The keystore is a data source of type `keystore`. Its first entry's `content` is the key,
//! encrypted with CryptoJS passphrase mode using the salt (default
//! `<organizationId>-<keystoreDataSourceId>`), which is what apps read with
//! `Fliplet.DataSources.Encryption.KeyStore.getKey([salt])`.

use reqwest::Method;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::client::{ApiError, Client, DataSource};
use crate::crypto::{self, CryptoError};
use crate::secret::Secret;

/// Name and type of the keystore data source the original creates.
pub const KEYSTORE_NAME: &str = "Keystore";
pub const KEYSTORE_TYPE: &str = "keystore";

/// Why the keystore key could not be had. Never contains the key or the salt.
#[derive(Debug, thiserror::Error)]
pub enum KeystoreError {
    #[error("Cannot read the organization keystore: {0}")]
    Api(#[from] ApiError),
    #[error("{0}")]
    Crypto(#[from] CryptoError),
    #[error(
        "Cannot create the organization keystore: the Fliplet user of this token belongs to no organization"
    )]
    NoOrganization,
}

/// Where the encryption key of a run comes from (safe to show: never holds the key).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum KeySource {
    /// `encrypt.key` of the job.
    Configured,
    /// The organization keystore already held a key.
    Keystore { data_source_id: u64 },
    /// This run created the keystore key (and the keystore data source when `created_data_source`).
    KeystoreCreated {
        data_source_id: u64,
        created_data_source: bool,
    },
    /// Dry run: a real run would create the keystore data source and its key.
    WouldCreateKeystore,
    /// Dry run: the keystore exists but has no key yet; a real run would store one.
    WouldStoreKey { data_source_id: u64 },
}

/// The key of a run. `key` is `None` only in a dry run that would create it.
#[derive(Debug, Clone)]
pub struct RunKey {
    pub key: Option<Secret>,
    pub source: KeySource,
}

impl Client {
    /// `POST v1/data-sources {name, type, organizationId}` (201 `{dataSource}`).
    pub async fn create_data_source(
        &self,
        name: &str,
        kind: Option<&str>,
        organization_id: u64,
    ) -> Result<DataSource, ApiError> {
        #[derive(Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct R {
            data_source: DataSource,
        }
        let body = json!({ "name": name, "type": kind, "organizationId": organization_id });
        let r: R = self
            .json(Method::POST, "v1/data-sources", Some(&body), None)
            .await?;
        Ok(r.data_source)
    }

    /// `PUT v1/data-sources/:id/data`: insert one entry (a flat data object).
    pub async fn insert_entry(&self, data_source_id: u64, data: &Value) -> Result<(), ApiError> {
        let _: Value = self
            .json(
                Method::PUT,
                &format!("v1/data-sources/{data_source_id}/data"),
                Some(data),
                Some(data_source_id),
            )
            .await?;
        Ok(())
    }
}

/// The keystore flow (docs/fliplet-api.md, "Keystore"). With `dry_run`, nothing is created or
/// written: the result then says what a real run would create, with no key.
pub async fn keystore_key(
    client: &Client,
    salt: Option<&Secret>,
    dry_run: bool,
) -> Result<RunKey, KeystoreError> {
    let keystores = client.data_sources(Some(KEYSTORE_TYPE)).await?;
    let (store, created_data_source) = match keystores.into_iter().next() {
        Some(ds) => (ds, false),
        None if dry_run => {
            tracing::info!(
                "The organization keystore does not exist yet: a real run would create it and store a new encryption key (dry run: nothing is written)."
            );
            return Ok(RunKey {
                key: None,
                source: KeySource::WouldCreateKeystore,
            });
        }
        None => {
            let org = client
                .organizations()
                .await?
                .into_iter()
                .next()
                .ok_or(KeystoreError::NoOrganization)?;
            tracing::info!("Creating the organization keystore...");
            let ds = client
                .create_data_source(KEYSTORE_NAME, Some(KEYSTORE_TYPE), org.id)
                .await?;
            let ds = DataSource {
                organization_id: ds.organization_id.or(Some(org.id)),
                ..ds
            };
            (ds, true)
        }
    };
    let salt = match salt {
        Some(s) => s.clone(),
        None => Secret::new(format!(
            "{}-{}",
            store.organization_id.unwrap_or_default(),
            store.id
        )),
    };
    let entries = client.entries(store.id).await?;
    let content = entries.first().and_then(|e| {
        e.data_value()
            .get("content")
            .and_then(Value::as_str)
            .filter(|c| !c.is_empty())
            .map(str::to_owned)
    });
    if let Some(content) = content {
        let key = crypto::decrypt_keystore_key(&content, salt.expose())?;
        tracing::debug!("The encryption key has been fetched from the organization keystore.");
        return Ok(RunKey {
            key: Some(Secret::new(key)),
            source: KeySource::Keystore {
                data_source_id: store.id,
            },
        });
    }
    if dry_run {
        tracing::info!(
            "The organization keystore holds no key yet: a real run would store a new encryption key (dry run: nothing is written)."
        );
        return Ok(RunKey {
            key: None,
            source: KeySource::WouldStoreKey {
                data_source_id: store.id,
            },
        });
    }
    let key = crypto::generate_key();
    let content = crypto::cryptojs_encrypt(&key, salt.expose());
    client
        .insert_entry(
            store.id,
            &json!({
                "createdAt": chrono::Utc::now().timestamp(),
                "source": "Fliplet Agent",
                "content": content,
            }),
        )
        .await?;
    tracing::info!(
        "A new encryption key has been generated and stored in the organization keystore."
    );
    Ok(RunKey {
        key: Some(Secret::new(key)),
        source: KeySource::KeystoreCreated {
            data_source_id: store.id,
            created_data_source,
        },
    })
}
