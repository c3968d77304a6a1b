//! Field encryption readable by Fliplet apps (CryptoJS passphrase mode), and sealing of local
//! secrets at rest.
//!
//! # Field encryption (data sent to Fliplet)
//!
//! The original agent encrypts a field with `CryptoJS.AES.encrypt(text, key).toString()` and
//! apps decrypt it with `CryptoJS.AES.decrypt(c, key).toString(CryptoJS.enc.Utf8)`. That is
//! CryptoJS's *passphrase* mode, which is the OpenSSL `enc` format:
//!
//! ```text
//! base64( "Salted__" || salt[8] || AES-256-CBC(PKCS#7(plaintext)) )
//! ```
//!
//! with key (32 bytes) and IV (16 bytes) derived from the UTF-8 passphrase and the random
//! salt by OpenSSL's `EVP_BytesToKey` using MD5 and one iteration. The text always starts
//! with `U2FsdGVkX1` (base64 of `Salted__`). [`cryptojs_encrypt`] / [`cryptojs_decrypt`]
//! produce and read exactly that format; `tests/crypto_js.rs` proves it both ways against the
//! real `crypto-js` npm package.
//!
//! # Sealing (our own secrets at rest)
//!
//! [`seal`] / [`unseal`] use AES-256-GCM with a random 96-bit nonce prepended to the
//! ciphertext. This is only for secrets this program keeps locally (the headless fallback
//! when no OS keychain is available); it is never sent to Fliplet.
//!
//! Error messages never contain keys, passphrases, salts or plaintext.

use aes::cipher::{BlockDecryptMut, BlockEncryptMut, KeyIvInit, block_padding::Pkcs7};
use aes_gcm::{
    Aes256Gcm,
    aead::{Aead, AeadCore, KeyInit},
};
use base64::Engine as _;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use md5::{Digest, Md5};
use rand::{Rng, RngCore, distributions::Alphanumeric, rngs::OsRng};
use serde_json::Value;
use zeroize::Zeroizing;

type Aes256CbcEnc = cbc::Encryptor<aes::Aes256>;
type Aes256CbcDec = cbc::Decryptor<aes::Aes256>;

/// OpenSSL/CryptoJS magic prefix of a salted ciphertext.
const SALTED_MAGIC: &[u8; 8] = b"Salted__";
/// Salt length of the OpenSSL/CryptoJS format.
const SALT_LEN: usize = 8;
/// AES block size.
const BLOCK: usize = 16;
/// Length of a key made by [`generate_key`] (the original's `Crypt.generateKey()`).
pub const GENERATED_KEY_LEN: usize = 32;
/// Length of the AES-GCM nonce that prefixes a sealed blob.
pub const SEAL_NONCE_LEN: usize = 12;
/// Length of the AES-GCM authentication tag at the end of a sealed blob.
const SEAL_TAG_LEN: usize = 16;

/// Base64 as CryptoJS writes it (standard alphabet, padded) and reads it (padding optional).
const B64: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new()
        .with_encode_padding(true)
        .with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// Why decrypting or unsealing failed. Messages say what to check; they never include key
/// material or plaintext.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CryptoError {
    /// The text is not base64 of an OpenSSL/CryptoJS `Salted__` ciphertext.
    #[error(
        "the encrypted value is not in the CryptoJS/OpenSSL format (base64 text starting \
         \"U2FsdGVkX1\"): {reason}; check that the field really holds a value encrypted by \
         the Fliplet Agent or CryptoJS.AES.encrypt"
    )]
    NotCryptoJsFormat { reason: &'static str },

    /// The ciphertext is well formed but did not decrypt to valid data: wrong passphrase (or
    /// salt), or the value was altered.
    #[error(
        "could not decrypt the value: the encryption key (or keystore salt) is wrong, or the \
         encrypted value was altered; check the key/salt configured for this job"
    )]
    WrongKey,

    /// The keystore's key could not be decrypted with the salt (the original agent's
    /// "The salt provided for the key decryption is incorrect").
    #[error(
        "The salt provided for the key decryption is incorrect: the keystore key could not \
         be decrypted; check the job's encryption salt (default \
         \"<organizationId>-<keystoreDataSourceId>\")"
    )]
    IncorrectSalt,

    /// A sealed blob is too short to contain a nonce and a tag.
    #[error(
        "the sealed secret is truncated or is not a sealed secret ({len} bytes); re-enter the \
         secret to store it again"
    )]
    SealedTooShort { len: usize },

    /// A sealed blob failed authentication: wrong key, or the file was corrupted/altered.
    #[error(
        "could not open the sealed secret: the local sealing key is wrong or the stored data \
         was corrupted or altered; re-enter the secret to store it again"
    )]
    UnsealFailed,
}

/// `EVP_BytesToKey(MD5, 1 iteration)`: 32-byte AES-256 key followed by a 16-byte IV.
///
/// `D_1 = MD5(pass || salt)`, `D_i = MD5(D_{i-1} || pass || salt)`, output `D_1 || D_2 || D_3`.
/// This is what both `openssl enc -md md5` and CryptoJS's `OpenSSLKdf` compute.
fn evp_bytes_to_key(passphrase: &[u8], salt: &[u8; SALT_LEN]) -> Zeroizing<[u8; 48]> {
    let mut out = Zeroizing::new([0u8; 48]);
    let mut prev: Option<[u8; 16]> = None;
    for chunk in out.chunks_mut(16) {
        let mut h = Md5::new();
        if let Some(p) = prev {
            h.update(p);
        }
        h.update(passphrase);
        h.update(salt);
        let d: [u8; 16] = h.finalize().into();
        chunk.copy_from_slice(&d);
        prev = Some(d);
    }
    out
}

fn encrypt_with_salt(plaintext: &[u8], passphrase: &str, salt: &[u8; SALT_LEN]) -> String {
    let kiv = evp_bytes_to_key(passphrase.as_bytes(), salt);
    let (key, iv) = kiv.split_at(32);
    let padded_len = (plaintext.len() / BLOCK + 1) * BLOCK;
    let mut out = Vec::with_capacity(SALTED_MAGIC.len() + SALT_LEN + padded_len);
    out.extend_from_slice(SALTED_MAGIC);
    out.extend_from_slice(salt);
    let start = out.len();
    out.extend_from_slice(plaintext);
    out.resize(start + padded_len, 0);
    let written = Aes256CbcEnc::new(key.into(), iv.into())
        .encrypt_padded_mut::<Pkcs7>(&mut out[start..], plaintext.len())
        .expect("buffer is sized for PKCS#7 padding")
        .len();
    debug_assert_eq!(written, padded_len);
    B64.encode(&out)
}

/// `CryptoJS.AES.encrypt(plaintext, passphrase).toString()`: OpenSSL `Salted__` format with
/// a fresh random 8-byte salt, AES-256-CBC, PKCS#7, base64. Output starts `U2FsdGVkX1`.
///
/// The passphrase is used as UTF-8 bytes, as CryptoJS does for a string key.
pub fn cryptojs_encrypt(plaintext: &str, passphrase: &str) -> String {
    let mut salt = [0u8; SALT_LEN];
    OsRng.fill_bytes(&mut salt);
    encrypt_with_salt(plaintext.as_bytes(), passphrase, &salt)
}

/// Reads a value written by `CryptoJS.AES.encrypt(text, passphrase)` (or
/// `openssl enc -aes-256-cbc -md md5 -a -salt`), like
/// `CryptoJS.AES.decrypt(c, passphrase).toString(CryptoJS.enc.Utf8)`.
///
/// Whitespace in the base64 text (e.g. OpenSSL's line breaks) is ignored and `=` padding is
/// optional. Never panics.
///
/// Differences from CryptoJS, all on the failure side:
/// - CryptoJS does not check PKCS#7 padding, so a wrong passphrase there yields an exception
///   ("Malformed UTF-8 data"), an empty string, or (rarely) garbage. Here a wrong passphrase
///   gives [`CryptoError::WrongKey`] whenever the padding or the UTF-8 is invalid, which is
///   all but about 1 in 256 × (chance of valid UTF-8) cases.
/// - An **empty** result is returned as `Ok(String::new())`, because the empty string is a
///   valid plaintext. The keystore check, where the original treats an empty result as "wrong
///   salt", is [`decrypt_keystore_key`].
pub fn cryptojs_decrypt(ciphertext: &str, passphrase: &str) -> Result<String, CryptoError> {
    let compact: String = ciphertext
        .chars()
        .filter(|c| !c.is_ascii_whitespace())
        .collect();
    let raw = B64
        .decode(compact.as_bytes())
        .map_err(|_| CryptoError::NotCryptoJsFormat {
            reason: "not valid base64",
        })?;
    if raw.len() < SALTED_MAGIC.len() + SALT_LEN || &raw[..SALTED_MAGIC.len()] != SALTED_MAGIC {
        return Err(CryptoError::NotCryptoJsFormat {
            reason: "missing the \"Salted__\" header",
        });
    }
    let salt: [u8; SALT_LEN] = raw[SALTED_MAGIC.len()..SALTED_MAGIC.len() + SALT_LEN]
        .try_into()
        .expect("slice has SALT_LEN bytes");
    let mut body = Zeroizing::new(raw[SALTED_MAGIC.len() + SALT_LEN..].to_vec());
    if body.is_empty() || body.len() % BLOCK != 0 {
        return Err(CryptoError::NotCryptoJsFormat {
            reason: "the ciphertext length is not a whole number of AES blocks",
        });
    }
    let kiv = evp_bytes_to_key(passphrase.as_bytes(), &salt);
    let (key, iv) = kiv.split_at(32);
    let plain = Aes256CbcDec::new(key.into(), iv.into())
        .decrypt_padded_mut::<Pkcs7>(&mut body)
        .map_err(|_| CryptoError::WrongKey)?;
    let text = std::str::from_utf8(plain).map_err(|_| CryptoError::WrongKey)?;
    Ok(text.to_owned())
}

/// Keystore step of the push flow (docs/fliplet-api.md, "Keystore"): decrypt the keystore
/// entry's `content` with the salt. Like the original, an empty result means the salt is
/// wrong; so does any decryption failure. Both give [`CryptoError::IncorrectSalt`]. A
/// `content` that is not a CryptoJS ciphertext at all gives [`CryptoError::NotCryptoJsFormat`].
pub fn decrypt_keystore_key(content: &str, salt: &str) -> Result<String, CryptoError> {
    match cryptojs_decrypt(content, salt) {
        Ok(key) if !key.is_empty() => Ok(key),
        Ok(_) | Err(CryptoError::WrongKey) => Err(CryptoError::IncorrectSalt),
        Err(e) => Err(e),
    }
}

/// The plaintext the field encryption uses for a JSON value, or `None` when the original
/// agent would leave the field as it is.
///
/// - Falsy values (JS semantics: `null`, `false`, `0`, `-0`, `""`) → `None`: the original
///   skips a field when `!_.get(entry.data, field)`.
/// - Strings → the string itself.
/// - Numbers → JavaScript's `String(n)` (`1.0` → `"1"`, `1e21` → `"1e+21"`,
///   `1e-7` → `"1e-7"`).
/// - `true` → `"true"`.
/// - Arrays and objects (truthy in JS, even when empty) → compact JSON text.
///
/// **Deliberate difference from the original:** with crypto-js 4.x (the original pins
/// `^4.0.0`; checked with 4.0.0 and 4.2.0) `CryptoJS.AES.encrypt` given a non-string,
/// non-WordArray message does *not* stringify it: it throws `RangeError: Invalid array
/// length` (the message is appended as a WordArray with `sigBytes` undefined), which aborted
/// the whole push run. So no encrypted non-string value ever reached Fliplet and there is no
/// existing format to match. Instead of failing the run, we encrypt the value's JavaScript
/// text form; apps decrypt it with `.toString(CryptoJS.enc.Utf8)` and get that text (e.g.
/// the string `"42"`), i.e. the value as a string.
pub fn field_plaintext(value: &Value) -> Option<String> {
    match value {
        Value::Null | Value::Bool(false) => None,
        Value::Bool(true) => Some("true".to_owned()),
        Value::String(s) if s.is_empty() => None,
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => {
            let text = js_number_string(n);
            (text != "0").then_some(text)
        }
        Value::Array(_) | Value::Object(_) => Some(value.to_string()),
    }
}

/// Encrypts one field value the way the original agent's commit step does
/// (`entry.data[field] = Crypt.salt(key).encrypt(entry.data[field])`).
///
/// Returns `None` when the value must be left unchanged (falsy values: `null`, `false`, `0`,
/// `""`), otherwise `Some(Value::String(ciphertext))`. See [`field_plaintext`] for how
/// non-string values are turned into text (the original crashed on them; we encrypt their
/// JavaScript text form).
pub fn encrypt_value(value: &Value, key: &str) -> Option<Value> {
    field_plaintext(value).map(|text| Value::String(cryptojs_encrypt(&text, key)))
}

/// JavaScript's `Number.prototype.toString()` for a JSON number.
fn js_number_string(n: &serde_json::Number) -> String {
    if let Some(i) = n.as_i64() {
        return i.to_string();
    }
    if let Some(u) = n.as_u64() {
        return js_f64_string(u as f64).unwrap_or_else(|| u.to_string());
    }
    match n.as_f64() {
        Some(f) => js_f64_string(f).unwrap_or_else(|| n.to_string()),
        None => n.to_string(),
    }
}

/// ECMAScript Number::toString(10) for a finite double (None for NaN/inf, which JSON cannot
/// hold anyway).
fn js_f64_string(f: f64) -> Option<String> {
    if !f.is_finite() {
        return None;
    }
    if f == 0.0 {
        return Some("0".to_owned());
    }
    let sign = if f < 0.0 { "-" } else { "" };
    // Rust's `{:e}` gives the shortest round-trip digits, like ECMAScript's algorithm.
    let sci = format!("{:e}", f.abs());
    let (mantissa, exp) = sci.split_once('e')?;
    let exp: i32 = exp.parse().ok()?;
    let digits: String = mantissa.chars().filter(|c| *c != '.').collect();
    let k = digits.len() as i32;
    let n = exp + 1;
    let body = if k <= n && n <= 21 {
        format!("{digits}{}", "0".repeat((n - k) as usize))
    } else if 0 < n && n <= 21 {
        format!("{}.{}", &digits[..n as usize], &digits[n as usize..])
    } else if -6 < n && n <= 0 {
        format!("0.{}{digits}", "0".repeat((-n) as usize))
    } else {
        let e = n - 1;
        let e_sign = if e < 0 { '-' } else { '+' };
        let m = if k == 1 {
            digits.clone()
        } else {
            format!("{}.{}", &digits[..1], &digits[1..])
        };
        format!("{m}e{e_sign}{}", e.abs())
    };
    Some(format!("{sign}{body}"))
}

/// A new random field-encryption key: 32 characters from `[A-Za-z0-9]`, like the original's
/// `Crypt.generateKey()`, but drawn from the OS CSPRNG (the original used `Math.random`).
pub fn generate_key() -> String {
    OsRng
        .sample_iter(&Alphanumeric)
        .take(GENERATED_KEY_LEN)
        .map(char::from)
        .collect()
}

/// A new random 256-bit key for [`seal`] / [`unseal`], from the OS CSPRNG.
pub fn random_key() -> [u8; 32] {
    let mut key = [0u8; 32];
    OsRng.fill_bytes(&mut key);
    key
}

/// Seals a local secret with AES-256-GCM. Output: `nonce (12 bytes) || ciphertext || tag
/// (16 bytes)`, with a fresh random nonce per call.
pub fn seal(plaintext: &[u8], key: &[u8; 32]) -> Vec<u8> {
    let cipher = Aes256Gcm::new(key.into());
    let nonce = Aes256Gcm::generate_nonce(&mut OsRng);
    let ciphertext = cipher
        .encrypt(&nonce, plaintext)
        .expect("AES-GCM encryption only fails for inputs larger than 64 GiB");
    let mut out = Vec::with_capacity(SEAL_NONCE_LEN + ciphertext.len());
    out.extend_from_slice(&nonce);
    out.extend_from_slice(&ciphertext);
    out
}

/// Opens a blob made by [`seal`]. Fails (never panics) if the blob is truncated, the key is
/// wrong, or any byte was altered.
pub fn unseal(sealed: &[u8], key: &[u8; 32]) -> Result<Vec<u8>, CryptoError> {
    if sealed.len() < SEAL_NONCE_LEN + SEAL_TAG_LEN {
        return Err(CryptoError::SealedTooShort { len: sealed.len() });
    }
    let (nonce, ciphertext) = sealed.split_at(SEAL_NONCE_LEN);
    Aes256Gcm::new(key.into())
        .decrypt(nonce.into(), ciphertext)
        .map_err(|_| CryptoError::UnsealFailed)
}

/// Lower-case hex MD5 of some bytes (the media checksum of the files flow; docs/fliplet-api.md,
/// "Files upload").
pub fn md5_hex(bytes: &[u8]) -> String {
    Md5::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn hex(bytes: &[u8]) -> String {
        bytes.iter().map(|b| format!("{b:02X}")).collect()
    }

    #[test]
    fn evp_bytes_to_key_matches_openssl() {
        // openssl enc -aes-256-cbc -md md5 -S 0102030405060708 -k pass -P
        let kiv = evp_bytes_to_key(b"pass", &[1, 2, 3, 4, 5, 6, 7, 8]);
        assert_eq!(
            hex(&kiv[..32]),
            "86A00079BEB5DCA79870668BB0C56A7EB158E10AC9A1EC44CD2FD6CCF7796367"
        );
        assert_eq!(hex(&kiv[32..]), "717E513CB7804E1856CD14DACE7097CF");
    }

    #[test]
    fn encrypt_with_fixed_salt_matches_openssl() {
        // printf 'Hello, World' | openssl enc -aes-256-cbc -md md5 -a -S 0102030405060708 -k pass
        let c = encrypt_with_salt(b"Hello, World", "pass", &[1, 2, 3, 4, 5, 6, 7, 8]);
        assert!(c.starts_with("U2FsdGVkX1"));
        assert_eq!(cryptojs_decrypt(&c, "pass").unwrap(), "Hello, World");
        assert_eq!(c, OPENSSL_FIXED_SALT);
    }

    // OpenSSL 3 omits the header when `-S` is given, so this is base64("Salted__" || salt ||
    // the raw output of `openssl enc ... -S 0102030405060708 -k pass`, "t4tRt+RY99Sqf+iVavg1Lw==").
    const OPENSSL_FIXED_SALT: &str = "U2FsdGVkX18BAgMEBQYHCLeLUbfkWPfUqn/olWr4NS8=";

    #[test]
    fn decrypts_openssl_ciphertexts() {
        // echo -n "Hello, World" | openssl enc -aes-256-cbc -md md5 -a -salt -k pass
        assert_eq!(
            cryptojs_decrypt("U2FsdGVkX18rShf+urlnQvTYHcmClG0EnOYGynjCSso=", "pass").unwrap(),
            "Hello, World"
        );
        // printf 'Grüße, café ☕ 🎉\nline two' | openssl enc ... -k 'pässword' (wrapped at 64)
        let wrapped = "U2FsdGVkX1/tFk11tkdxKT8I4CzqKohPVWcwLTsD1LMS8kDDnq8x8A+zX8x1Z6Xn\n\
                       S6uqxJvffMdQAq7fT+v+Aw==\n";
        assert_eq!(
            cryptojs_decrypt(wrapped, "pässword").unwrap(),
            "Grüße, café ☕ 🎉\nline two"
        );
        // 200 × 'x', multi-line openssl output
        let long = "U2FsdGVkX19lFncAojOQfost/XUVfmZc5IpSYdsdrp2XoTQZ9/G0xCLTaXf/S6y6\n\
                    VTK7B+xsfomGeCLxNQ9lgyK0P+Urzoau3tWqUUo3QqA7/c9wF8+Lghj+8glwFvdy\n\
                    Y+2vLz4/pvdJqotZQLZ1IXYv1Zo976tL0ma8J/noe/nmBHJGnRIKqSe4ODAq08D1\n\
                    f2GnI870t+JrNa1R8oyncjGyJxl4niIz3v+qZf/JqzfL2S68Vkmj0yKWS2pEyCGZ\n\
                    9S/TsZgXtba6mvaU4a5mjCWCdHtUpYbH2QW4lBAXxIA=";
        assert_eq!(cryptojs_decrypt(long, "pass").unwrap(), "x".repeat(200));
    }

    #[test]
    fn round_trips() {
        let long: String = (0..12_000)
            .map(|i| char::from(b'a' + (i % 26) as u8))
            .collect();
        let cases = [
            "hello world",
            "Grüße, café, naïve, 東京, emoji 🎉👩‍💻",
            "",
            long.as_str(),
            "exactly sixteen!",
        ];
        for text in cases {
            for key in ["k", "a much longer passphrase with ünïcödé 🔑", "7-78"] {
                let c = cryptojs_encrypt(text, key);
                assert!(c.starts_with("U2FsdGVkX1"), "{c}");
                assert_eq!(cryptojs_decrypt(&c, key).unwrap(), text);
            }
        }
    }

    #[test]
    fn encryption_is_salted() {
        let a = cryptojs_encrypt("same", "key");
        let b = cryptojs_encrypt("same", "key");
        assert_ne!(a, b);
        // 8 magic + 8 salt + 16 block → 32 bytes → 44 base64 chars
        assert_eq!(a.len(), 44);
    }

    #[test]
    fn wrong_passphrase_is_an_error() {
        let mut failures = 0;
        for i in 0..200 {
            let c = cryptojs_encrypt(&format!("secret value number {i}"), "right");
            match cryptojs_decrypt(&c, "wrong") {
                Err(CryptoError::WrongKey) => failures += 1,
                Err(e) => panic!("unexpected error {e}"),
                // Padding and UTF-8 can both pass by chance; then the text is still not ours.
                Ok(s) => assert_ne!(s, format!("secret value number {i}")),
            }
        }
        assert!(failures >= 190, "only {failures} failures");
    }

    #[test]
    fn malformed_input_is_an_error_not_a_panic() {
        for bad in [
            "",
            "not base64 !!!",
            "aGVsbG8gd29ybGQ=",
            "U2FsdGVkX18=",
            "U2FsdGVkX18BAgMEBQYHCA==",
            "U2FsdGVkX18BAgMEBQYHCLeLUbfkWPfUqn/olWr4",
        ] {
            assert!(matches!(
                cryptojs_decrypt(bad, "pass"),
                Err(CryptoError::NotCryptoJsFormat { .. })
            ));
        }
        // Unpadded base64 is accepted, as CryptoJS does.
        assert_eq!(
            cryptojs_decrypt(OPENSSL_FIXED_SALT.trim_end_matches('='), "pass").unwrap(),
            "Hello, World"
        );
    }

    #[test]
    fn keystore_key_check() {
        let key = generate_key();
        let content = cryptojs_encrypt(&key, "7-78");
        assert_eq!(decrypt_keystore_key(&content, "7-78").unwrap(), key);
        assert_eq!(
            decrypt_keystore_key(&cryptojs_encrypt("", "7-78"), "7-78"),
            Err(CryptoError::IncorrectSalt)
        );
        // A wrong salt is an error (or, by rare chance, some other non-matching text).
        match decrypt_keystore_key(&content, "7-79") {
            Err(e) => assert_eq!(e, CryptoError::IncorrectSalt),
            Ok(other) => assert_ne!(other, key),
        }
    }

    #[test]
    fn generated_keys() {
        let a = generate_key();
        let b = generate_key();
        assert_eq!(a.len(), 32);
        assert!(a.chars().all(|c| c.is_ascii_alphanumeric()));
        assert_ne!(a, b);
    }

    #[test]
    fn field_values() {
        for falsy in [
            json!(null),
            json!(false),
            json!(0),
            json!(0.0),
            json!(-0.0),
            json!(""),
        ] {
            assert_eq!(encrypt_value(&falsy, "k"), None, "{falsy}");
        }
        let c = encrypt_value(&json!("text"), "k").unwrap();
        assert_eq!(cryptojs_decrypt(c.as_str().unwrap(), "k").unwrap(), "text");

        let cases = [
            (json!(42), "42"),
            (json!(-7), "-7"),
            (json!(1.5), "1.5"),
            (json!(1.0), "1"),
            (json!(0.1), "0.1"),
            (json!(1e21), "1e+21"),
            (json!(1e20), "100000000000000000000"),
            (json!(1.5e-7), "1.5e-7"),
            (json!(0.000001), "0.000001"),
            (json!(18446744073709551615u64), "18446744073709552000"),
            (json!(true), "true"),
            (json!([]), "[]"),
            (json!({"a": 1, "b": "x"}), r#"{"a":1,"b":"x"}"#),
        ];
        for (value, text) in cases {
            assert_eq!(field_plaintext(&value).as_deref(), Some(text), "{value}");
            let c = encrypt_value(&value, "k").unwrap();
            assert_eq!(cryptojs_decrypt(c.as_str().unwrap(), "k").unwrap(), text);
        }
    }

    #[test]
    fn seal_round_trip_and_tamper_detection() {
        let key = random_key();
        for secret in [&b""[..], b"db password", &[0xffu8; 5000][..]] {
            let sealed = seal(secret, &key);
            assert_eq!(sealed.len(), SEAL_NONCE_LEN + secret.len() + SEAL_TAG_LEN);
            assert_eq!(unseal(&sealed, &key).unwrap(), secret);
        }
        let sealed = seal(b"db password", &key);
        assert_ne!(sealed, seal(b"db password", &key), "nonce must be random");
        for i in 0..sealed.len() {
            let mut t = sealed.clone();
            t[i] ^= 0x01;
            assert_eq!(unseal(&t, &key), Err(CryptoError::UnsealFailed), "byte {i}");
        }
        assert_eq!(
            unseal(&sealed, &random_key()),
            Err(CryptoError::UnsealFailed)
        );
        assert_eq!(
            unseal(&sealed[..20], &key),
            Err(CryptoError::SealedTooShort { len: 20 })
        );
        assert_eq!(
            unseal(&sealed[..sealed.len() - 1], &key),
            Err(CryptoError::UnsealFailed)
        );
    }

    #[test]
    fn errors_do_not_leak_secrets() {
        let msgs = [
            CryptoError::WrongKey.to_string(),
            CryptoError::IncorrectSalt.to_string(),
            CryptoError::UnsealFailed.to_string(),
            cryptojs_decrypt("zzz", "supersecret")
                .unwrap_err()
                .to_string(),
        ];
        for m in msgs {
            assert!(!m.contains("supersecret"));
        }
    }

    #[test]
    fn md5_hex_known_vector() {
        assert_eq!(md5_hex(b""), "d41d8cd98f00b204e9800998ecf8427e");
        assert_eq!(md5_hex(b"abc"), "900150983cd24fb0d6963f7d28e17f72");
    }
}
