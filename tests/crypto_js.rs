//! Field encryption must be readable by Fliplet apps: proves, both ways, that our CryptoJS
//! passphrase-mode encryption interoperates with the real `crypto-js` npm package (pinned in
//! `tests/js/package.json`) under Node.
//!
//! Needs Node and `npm ci --prefix tests/js`; without them these tests FAIL (never skip).

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};

use fliplet_agent::crypto::{
    CryptoError, cryptojs_decrypt, cryptojs_encrypt, decrypt_keystore_key, encrypt_value,
    generate_key,
};
use serde_json::{Value, json};

fn js_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests")
        .join("js")
}

fn ensure_crypto_js() {
    let module = js_dir().join("node_modules").join("crypto-js");
    assert!(
        module.join("package.json").is_file(),
        "crypto-js is not installed at {}: run `npm ci --prefix tests/js` from the repository \
         root first (these compatibility tests must not be skipped)",
        module.display()
    );
}

/// Runs `node tests/js/cryptojs.js <args>` with `input` on stdin.
fn node(args: &[&str], input: &str) -> Result<String, String> {
    ensure_crypto_js();
    let dir = js_dir();
    let mut child = Command::new("node")
        .arg(dir.join("cryptojs.js"))
        .args(args)
        .current_dir(&dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| {
            panic!("cannot run `node` ({e}); Node.js 20+ is needed for the crypto-js tests")
        });
    let mut stdin = child.stdin.take().expect("stdin is piped");
    let data = input.to_owned();
    // Write on another thread so a large input cannot deadlock against a full stdout pipe.
    let writer = std::thread::spawn(move || stdin.write_all(data.as_bytes()));
    let out = child.wait_with_output().expect("wait for node");
    writer
        .join()
        .expect("stdin writer thread")
        .expect("write stdin");
    if out.status.success() {
        Ok(String::from_utf8(out.stdout).expect("node printed UTF-8"))
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    }
}

/// One crypto-js operation for [`js_batch`].
struct JsOp<'a> {
    op: &'static str,
    key: &'a str,
    input: &'a str,
}

/// Runs many crypto-js operations in one Node process (`cryptojs.js batch`).
fn js_batch(ops: &[JsOp<'_>]) -> Vec<Result<String, String>> {
    let request: Vec<Value> = ops
        .iter()
        .map(|o| json!({"op": o.op, "key": o.key, "input": o.input}))
        .collect();
    let out = node(&["batch"], &Value::Array(request).to_string()).expect("crypto-js batch");
    let results: Vec<Value> = serde_json::from_str(&out).expect("batch output is JSON");
    assert_eq!(results.len(), ops.len());
    results
        .into_iter()
        .map(|r| match (r.get("ok"), r.get("error")) {
            (Some(Value::String(ok)), _) => Ok(ok.clone()),
            (_, Some(err)) => Err(err.to_string()),
            _ => panic!("unexpected batch result {r}"),
        })
        .collect()
}

fn js_encrypt(plaintext: &str, passphrase: &str) -> String {
    node(&["encrypt", passphrase], plaintext).expect("crypto-js encrypt")
}

fn js_decrypt(ciphertext: &str, passphrase: &str) -> Result<String, String> {
    node(&["decrypt", passphrase], ciphertext)
}

fn samples() -> Vec<(&'static str, String)> {
    let long: String = "Lorem ipsum dolor sit amet, àéîõü ß 東京 🎉 "
        .chars()
        .cycle()
        .take(50 * 1024)
        .collect();
    vec![
        ("ascii", "Hello, World! 0123456789 ~!@#$%^&*()_+".to_owned()),
        (
            "accented",
            "Grüße aus Köln, café crème, naïve façade, ñandú".to_owned(),
        ),
        (
            "emoji and CJK",
            "👩‍💻 deploys 🚀 at 東京 — ✓ done 🎉 (𝄞)".to_owned(),
        ),
        ("multi-line", "line one\nline two\r\n\ttabbed\n".to_owned()),
        ("one block", "exactly sixteen!".to_owned()),
        ("long 50 KB", long),
    ]
}

const PASSPHRASES: [&str; 3] = ["Zq3vN8xLr0aWc5TgHy7uKp2mEs9dJf4B", "7-78", "pässwörd 🔑"];

#[test]
fn crypto_js_decrypts_our_ciphertext() {
    let samples = samples();
    let mut cases = Vec::new();
    for (name, text) in &samples {
        for pass in PASSPHRASES {
            let ours = cryptojs_encrypt(text, pass);
            assert!(ours.starts_with("U2FsdGVkX1"), "{name}");
            cases.push((*name, text, pass, ours));
        }
    }
    let ops: Vec<JsOp> = cases
        .iter()
        .map(|(_, _, pass, c)| JsOp {
            op: "decrypt",
            key: pass,
            input: c,
        })
        .collect();
    for ((name, text, pass, _), theirs) in cases.iter().zip(js_batch(&ops)) {
        let theirs = theirs.unwrap_or_else(|e| panic!("{name} / {pass}: {e}"));
        assert!(
            &theirs == *text,
            "{name} / {pass}: crypto-js read back different text"
        );
    }
}

#[test]
fn we_decrypt_crypto_js_ciphertext() {
    let samples = samples();
    let mut ops = Vec::new();
    for (_, text) in &samples {
        for pass in PASSPHRASES {
            ops.push(JsOp {
                op: "encrypt",
                key: pass,
                input: text,
            });
        }
    }
    for (op, theirs) in ops.iter().zip(js_batch(&ops)) {
        let theirs = theirs.expect("crypto-js encrypt");
        assert!(theirs.starts_with("U2FsdGVkX1"));
        let ours = cryptojs_decrypt(&theirs, op.key)
            .unwrap_or_else(|e| panic!("{:.40}… / {}: {e}", op.input, op.key));
        assert!(
            ours == op.input,
            "{:.40}…: we read back different text",
            op.input
        );
    }
}

#[test]
fn keystore_key_both_ways() {
    // The keystore stores a generated 32-char key encrypted with the salt
    // "<organizationId>-<keystoreDataSourceId>", e.g. "7-78" (docs/fliplet-api.md, "Keystore").
    let salt = "7-78";

    let key = generate_key();
    let content = cryptojs_encrypt(&key, salt);
    assert_eq!(js_decrypt(&content, salt).unwrap(), key);

    let their_key = "aB3dE5fG7hJ9kL1mN2pQ4rS6tU8vW0xY";
    let their_content = js_encrypt(their_key, salt);
    assert_eq!(
        decrypt_keystore_key(&their_content, salt).unwrap(),
        their_key
    );

    // A wrong salt: the original aborted when crypto-js gave "" (or threw); we return an error.
    match decrypt_keystore_key(&their_content, "7-79") {
        Err(e) => assert_eq!(e, CryptoError::IncorrectSalt),
        Ok(other) => assert_ne!(other, their_key),
    }
    // An encrypted empty key counts as a wrong salt, as in the original.
    assert_eq!(
        decrypt_keystore_key(&js_encrypt("", salt), salt),
        Err(CryptoError::IncorrectSalt)
    );
}

#[test]
fn encrypted_field_values_read_by_crypto_js() {
    let key = generate_key();
    let cases = [
        (json!("jane@example.com"), "jane@example.com"),
        (json!("Zoë 👋"), "Zoë 👋"),
        (json!(42), "42"),
        (json!(1.5), "1.5"),
        (json!(true), "true"),
        (json!({"a": [1, 2]}), r#"{"a":[1,2]}"#),
    ];
    let encrypted: Vec<String> = cases
        .iter()
        .map(|(value, _)| {
            let e = encrypt_value(value, &key).expect("truthy values are encrypted");
            e.as_str().expect("ciphertext is a JSON string").to_owned()
        })
        .collect();
    let ops: Vec<JsOp> = encrypted
        .iter()
        .map(|c| JsOp {
            op: "decrypt",
            key: &key,
            input: c,
        })
        .collect();
    for ((value, text), theirs) in cases.iter().zip(js_batch(&ops)) {
        assert_eq!(theirs.unwrap(), *text, "{value}");
    }
    for falsy in [json!(null), json!(false), json!(0), json!("")] {
        assert_eq!(encrypt_value(&falsy, &key), None, "{falsy}");
    }
}

#[test]
fn wrong_passphrase_on_crypto_js_ciphertext_is_an_error() {
    let texts: Vec<String> = (0..50).map(|i| format!("confidential value {i}")).collect();
    let ops: Vec<JsOp> = texts
        .iter()
        .map(|t| JsOp {
            op: "encrypt",
            key: "right key",
            input: t,
        })
        .collect();
    let mut errors = 0;
    for (text, c) in texts.iter().zip(js_batch(&ops)) {
        match cryptojs_decrypt(&c.unwrap(), "wrong key") {
            Err(CryptoError::WrongKey) => errors += 1,
            Err(e) => panic!("unexpected error: {e}"),
            Ok(other) => assert_ne!(&other, text),
        }
    }
    assert!(
        errors >= 45,
        "only {errors} of 50 wrong-key decryptions failed"
    );
}
