//! Media endpoints used by the files flow (docs/fliplet-api.md, "Media" and "Files upload").

use reqwest::Method;
use serde::{Deserialize, Serialize};

use super::client::{ApiError, Body, Client, Resend, Upload, urlencode};

/// Name of the organization media folder the agent uploads into.
pub const UPLOAD_FOLDER_NAME: &str = "Files uploaded from DIS";

/// A media folder (docs/fliplet-api.md, "Media").
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct MediaFolder {
    pub id: u64,
    pub name: String,
    #[serde(default)]
    pub organization_id: Option<u64>,
    #[serde(default)]
    pub parent_id: Option<u64>,
}

/// `metadata` of a media file: size and MD5 hex checksums (docs/fliplet-api.md, "Media").
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct MediaMetadata {
    #[serde(default)]
    pub size: Option<u64>,
    #[serde(default)]
    pub checksum: Option<String>,
    #[serde(default)]
    pub client_checksum: Option<String>,
}

/// A media file (docs/fliplet-api.md, "Media"): the fields the agent reads.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct MediaFile {
    pub id: u64,
    #[serde(default)]
    pub name: Option<String>,
    pub url: String,
    #[serde(default)]
    pub metadata: Option<MediaMetadata>,
}

impl MediaFile {
    /// Whether this file's server-side or client-side checksum is `md5_hex` (the original's
    /// dedup test; docs/fliplet-api.md, "Files upload").
    pub fn has_checksum(&self, md5_hex: &str) -> bool {
        self.metadata.as_ref().is_some_and(|m| {
            m.checksum
                .as_deref()
                .is_some_and(|c| c.eq_ignore_ascii_case(md5_hex))
                || m.client_checksum
                    .as_deref()
                    .is_some_and(|c| c.eq_ignore_ascii_case(md5_hex))
        })
    }
}

/// `GET v1/media` response.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct MediaListing {
    #[serde(default)]
    pub folders: Vec<MediaFolder>,
    #[serde(default)]
    pub files: Vec<MediaFile>,
}

impl Client {
    /// `GET v1/media/?organizationId=…`: top-level folders and files of an organization.
    pub async fn organization_media(&self, organization_id: u64) -> Result<MediaListing, ApiError> {
        self.json(
            Method::GET,
            &format!("v1/media/?organizationId={organization_id}"),
            None,
            None,
        )
        .await
    }

    /// `GET v1/media?folderId=…&organizationId=…`: a folder's subfolders and files.
    pub async fn folder_media(
        &self,
        folder_id: u64,
        organization_id: u64,
    ) -> Result<MediaListing, ApiError> {
        self.json(
            Method::GET,
            &format!("v1/media?folderId={folder_id}&organizationId={organization_id}"),
            None,
            None,
        )
        .await
    }

    /// `POST v1/media/folders {name, organizationId}`: the bare folder object comes back.
    pub async fn create_media_folder(
        &self,
        name: &str,
        organization_id: u64,
    ) -> Result<MediaFolder, ApiError> {
        let body = serde_json::json!({ "name": name, "organizationId": organization_id });
        self.json(Method::POST, "v1/media/folders", Some(&body), None)
            .await
    }

    /// `POST v1/media/files?folderId&name&organizationId` with the file part `files` and the
    /// text field `checksum` (MD5 hex of the bytes). Returns `files[0]`.
    pub async fn upload_media_file(
        &self,
        folder_id: u64,
        organization_id: u64,
        name: &str,
        content_type: &str,
        bytes: bytes::Bytes,
        checksum: &str,
    ) -> Result<MediaFile, ApiError> {
        #[derive(Deserialize)]
        struct R {
            files: Vec<MediaFile>,
        }
        let path = format!(
            "v1/media/files?folderId={folder_id}&name={}&organizationId={organization_id}",
            urlencode(name)
        );
        let upload = Upload {
            file_name: name.to_string(),
            content_type: content_type.to_string(),
            bytes,
            checksum: checksum.to_string(),
        };
        // Resent like a read after a lost answer: at worst an unreferenced copy of the file
        // stays in the media folder; no data source entry depends on the lost answer.
        let r: R = self
            .request(
                Method::POST,
                &path,
                Some(Body::Upload(upload)),
                None,
                Resend::Always,
            )
            .await?;
        r.files.into_iter().next().ok_or_else(|| ApiError::Decode {
            context: "POST v1/media/files".into(),
            message: "the response lists no file".into(),
        })
    }
}
