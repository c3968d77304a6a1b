//! Behaviours 24–27, media (docs/fliplet-api.md, "Media behaviours").

use crate::common::*;
use reqwest::multipart::{Form, Part};
use serde_json::json;

const FOLDER: &str = "Files uploaded from DIS";

fn md5_hex(b: &[u8]) -> String {
    use md5::{Digest, Md5};
    Md5::digest(b).iter().map(|x| format!("{x:02x}")).collect()
}

#[tokio::test]
async fn s24_media_listing_by_organization_and_folder() {
    let c = Ctx::new().await;
    let org = c.basic.organization_id;
    let top = c.emu.add_media_folder(org, FOLDER, None);
    let sub = c.emu.add_media_folder(org, "Sub", Some(top));
    let loose = c
        .emu
        .add_media_file(org, None, "top.txt", b"t".to_vec(), None);
    let inner = c
        .emu
        .add_media_file(org, Some(top), "in.txt", b"i".to_vec(), Some("abc"));
    let other_org = c.emu.add_organization("Other");
    c.emu.add_media_folder(other_org, "Theirs", None);

    let r = c.get(&format!("v1/media?organizationId={org}")).await;
    assert_eq!(r.status, 200);
    let folders: Vec<u64> = r.json["folders"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["id"].as_u64().unwrap())
        .collect();
    let files: Vec<u64> = r.json["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["id"].as_u64().unwrap())
        .collect();
    assert_eq!((folders, files), (vec![top], vec![loose]));

    let r = c
        .get(&format!("v1/media?folderId={top}&organizationId={org}"))
        .await;
    assert_eq!(r.json["folders"][0]["id"], json!(sub));
    assert_eq!(r.json["folders"].as_array().unwrap().len(), 1);
    let f = &r.json["files"][0];
    assert_eq!(f["id"], json!(inner));
    assert_eq!(
        f["metadata"],
        json!({"size": 1, "checksum": md5_hex(b"i"), "clientChecksum": "abc"})
    );
    // No context.
    assert_error(&c.get("v1/media").await, 400);
}

#[tokio::test]
async fn s25_create_folder_returns_the_bare_folder() {
    let c = Ctx::new().await;
    let org = c.basic.organization_id;
    let r = c
        .post(
            "v1/media/folders",
            json!({"name": FOLDER, "organizationId": org}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let f = r.json.clone();
    assert!(f["id"].is_u64());
    assert_eq!(f["name"], FOLDER);
    assert!(f["parentId"].is_null() && f["appId"].is_null() && f["deletedAt"].is_null());
    assert_eq!(f["organizationId"], json!(org));
    assert!(
        is_iso_millis(f["createdAt"].as_str().unwrap())
            && is_iso_millis(f["updatedAt"].as_str().unwrap())
    );
    let r = c.get(&format!("v1/media/?organizationId={org}")).await;
    assert_eq!(r.json["folders"], json!([f]));
    assert_error(
        &c.post("v1/media/folders", json!({"organizationId": org}))
            .await,
        400,
    );
    assert_error(&c.post("v1/media/folders", json!({"name": "x"})).await, 400);
}

#[tokio::test]
async fn s26_upload_with_checksum_lists_and_serves_bytes() {
    let c = Ctx::new().await;
    let org = c.basic.organization_id;
    let folder = c.emu.add_media_folder(org, FOLDER, None);
    let bytes: Vec<u8> = (0..5000u32).map(|i| (i % 251) as u8).collect();
    let sum = md5_hex(&bytes);
    let name = "17-photo of me.jpg";
    let form = Form::new()
        .part(
            "files",
            Part::bytes(bytes.clone())
                .file_name(name)
                .mime_str("image/jpeg")
                .unwrap(),
        )
        .text("checksum", sum.clone());
    let url = c.url(&format!(
        "v1/media/files?folderId={folder}&name={}&organizationId={org}",
        "17-photo%20of%20me.jpg"
    ));
    let r = res(c
        .http
        .post(url)
        .header("Auth-token", &c.basic.token)
        .multipart(form)
        .send()
        .await
        .unwrap())
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let f = r.json["files"][0].clone();
    assert_eq!(f["name"], name);
    assert_eq!(f["contentType"], "image/jpeg");
    assert_eq!(f["mediaFolderId"], json!(folder));
    assert_eq!(f["organizationId"], json!(org));
    assert_eq!(
        f["metadata"],
        json!({"size": 5000, "checksum": sum, "clientChecksum": sum})
    );
    let file_url = f["url"].as_str().unwrap();
    assert!(file_url.starts_with(&c.emu.url()), "{file_url}");
    // Listed with the same metadata.
    let r = c
        .get(&format!("v1/media?folderId={folder}&organizationId={org}"))
        .await;
    assert_eq!(r.json["files"][0]["metadata"], f["metadata"]);
    assert_eq!(r.json["files"][0]["id"], f["id"]);
    // The url serves the bytes back.
    let got = c.http.get(file_url).send().await.unwrap();
    assert_eq!(got.status(), 200);
    assert_eq!(got.headers()["content-type"], "image/jpeg");
    assert_eq!(got.bytes().await.unwrap().to_vec(), bytes);
    // files[0] part, name[0] field, no checksum.
    let form = Form::new().text("name[0]", "renamed.bin").part(
        "files[0]",
        Part::bytes(b"xyz".to_vec()).file_name("orig.bin"),
    );
    let r = res(c
        .http
        .post(c.url(&format!("v1/media/files?folderId={folder}")))
        .header("Auth-token", &c.basic.token)
        .multipart(form)
        .send()
        .await
        .unwrap())
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json["files"][0]["name"], "renamed.bin");
    assert_eq!(
        r.json["files"][0]["metadata"],
        json!({"size": 3, "checksum": md5_hex(b"xyz"), "clientChecksum": null})
    );
    // GET file metadata.
    let id = f["id"].as_u64().unwrap();
    assert_eq!(
        c.get(&format!("v1/media/files/{id}")).await.json["metadata"],
        f["metadata"]
    );
}

#[tokio::test]
async fn s27_media_access_denial_is_401_file_access() {
    let c = Ctx::new().await;
    let other = c.emu.add_organization("Other");
    let folder = c.emu.add_media_folder(other, "Theirs", None);
    let file = c
        .emu
        .add_media_file(other, Some(folder), "x.txt", b"x".to_vec(), None);
    let checks = [
        c.get(&format!("v1/media?organizationId={other}")).await,
        c.get(&format!(
            "v1/media?folderId={folder}&organizationId={other}"
        ))
        .await,
        c.post(
            "v1/media/folders",
            json!({"name": "n", "organizationId": other}),
        )
        .await,
        c.get(&format!("v1/media/files/{file}")).await,
    ];
    for r in &checks {
        assert_error(r, 401);
        assert_eq!(r.json["error"], "file.access");
        assert!(
            r.json["message"]
                .as_str()
                .unwrap()
                .starts_with("You do not have permission to")
        );
    }
    let form = Form::new().part("files", Part::bytes(b"a".to_vec()).file_name("a.txt"));
    let r = res(c
        .http
        .post(c.url(&format!(
            "v1/media/files?folderId={folder}&organizationId={other}"
        )))
        .header("Auth-token", &c.basic.token)
        .multipart(form)
        .send()
        .await
        .unwrap())
    .await;
    assert_error(&r, 401);
    assert_eq!(
        r.json["message"],
        "You do not have permission to create files here"
    );
    assert_eq!(c.emu.media_files().len(), 1);
}
