//! The one HTTP client builder of the agent (the Fliplet API client, HTTP sources, file
//! downloads) and its TLS settings.
//!
//! TLS is always verified: against the operating system's CA certificates plus, when set, the
//! certificates of a CA file (`ca_file` of a job for the Fliplet API, or `FLIPLET_CA_FILE`),
//! for networks whose proxy inspects HTTPS. A certificate listed in the CA file is trusted as
//! given even when it is a self-signed `CA:TRUE` certificate served by the server itself (what
//! `openssl req -x509` makes), which webpki alone refuses as "a CA used as an end entity": the
//! presented certificate must then be byte for byte one of the file's certificates, valid
//! now, and valid for the server's name.
//!
//! An unusable CA file (missing, unreadable, not PEM) is an error when the client is built,
//! never a silent fallback; certificate errors name what was trusted and what to check, and
//! are not worth retrying (see [`certificate_error`]).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{CertificateError, DigitallySignedStruct, OtherError, SignatureScheme};

/// Environment variable naming an extra CA certificate file (PEM) to trust.
pub const CA_FILE_ENV: &str = "FLIPLET_CA_FILE";

/// Where a CA file setting came from, for messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CaOrigin {
    /// The job's `ca_file` key.
    JobKey,
    /// `$FLIPLET_CA_FILE`.
    Env,
}

impl CaOrigin {
    pub fn label(self) -> &'static str {
        match self {
            CaOrigin::JobKey => "`ca_file`",
            CaOrigin::Env => CA_FILE_ENV,
        }
    }
}

/// `explicit` (a job's `ca_file`), else `$FLIPLET_CA_FILE`, with where it came from.
pub fn ca_file_setting(explicit: Option<PathBuf>) -> Option<(PathBuf, CaOrigin)> {
    match explicit {
        Some(p) => Some((p, CaOrigin::JobKey)),
        None => std::env::var_os(CA_FILE_ENV)
            .filter(|v| !v.is_empty())
            .map(|p| (PathBuf::from(p), CaOrigin::Env)),
    }
}

/// `$FLIPLET_CA_FILE`, if set (HTTP sources and file downloads trust it).
pub fn ca_file_from_env() -> Option<PathBuf> {
    ca_file_setting(None).map(|(p, _)| p)
}

/// A CA file that cannot be used. `Display` names the file and what to do.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CaFileError {
    #[error(
        "Cannot read the CA certificate file {path}: {reason}. Check the path (it is relative to the job file's folder when set with `ca_file`)."
    )]
    Read { path: String, reason: String },
    #[error(
        "The CA certificate file {path} holds no PEM certificate (a `-----BEGIN CERTIFICATE-----` block){hint}."
    )]
    NotPem { path: String, hint: &'static str },
    #[error("The CA certificate file {path} holds a certificate that cannot be used: {reason}.")]
    BadCertificate { path: String, reason: String },
}

/// The certificates of a PEM CA file (one or more `CERTIFICATE` blocks; other blocks, such as
/// a private key, are ignored).
pub fn load_ca_file(path: &Path) -> Result<Vec<CertificateDer<'static>>, CaFileError> {
    let shown = path.display().to_string();
    let meta = std::fs::metadata(path).map_err(|e| CaFileError::Read {
        path: shown.clone(),
        reason: e.to_string(),
    })?;
    if !meta.is_file() {
        return Err(CaFileError::Read {
            path: shown,
            reason: "not a regular file".into(),
        });
    }
    let bytes = std::fs::read(path).map_err(|e| CaFileError::Read {
        path: shown.clone(),
        reason: e.to_string(),
    })?;
    let mut certs = Vec::new();
    for item in CertificateDer::pem_slice_iter(&bytes) {
        match item {
            Ok(c) => certs.push(c),
            Err(e) => {
                return Err(CaFileError::BadCertificate {
                    path: shown,
                    reason: format!("the PEM text is damaged ({e})"),
                });
            }
        }
    }
    if certs.is_empty() {
        let hint = if bytes.first() == Some(&0x30) {
            ": it looks like a binary (DER) certificate; convert it with `openssl x509 -inform DER -in FILE -out FILE.pem`"
        } else {
            ""
        };
        return Err(CaFileError::NotPem { path: shown, hint });
    }
    let mut store = rustls::RootCertStore::empty();
    for c in &certs {
        store
            .add(c.clone())
            .map_err(|e| CaFileError::BadCertificate {
                path: shown.clone(),
                reason: e.to_string(),
            })?;
    }
    Ok(certs)
}

/// Check a CA file without building a client (`fliplet-agent validate`).
pub fn check_ca_file(path: &Path) -> Result<(), CaFileError> {
    load_ca_file(path).map(|_| ())
}

/// The HTTP client builder every request of the agent goes through: user agent, 15 s
/// connect timeout, and verified TLS trusting the system's CAs plus `ca_file`'s certificates.
/// Callers add their own request timeout (and pool settings) and build.
pub fn client_builder(ca_file: Option<&Path>) -> Result<reqwest::ClientBuilder, CaFileError> {
    Ok(reqwest::Client::builder()
        .user_agent(crate::fliplet::USER_AGENT)
        .connect_timeout(Duration::from_secs(15))
        .use_preconfigured_tls(tls_config(ca_file)?))
}

/// The rustls configuration: ring (reqwest's provider), the system's CAs plus `ca_file`'s
/// certificates, and [`Verifier`].
pub fn tls_config(ca_file: Option<&Path>) -> Result<rustls::ClientConfig, CaFileError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut roots = rustls::RootCertStore::empty();
    let native = rustls_native_certs::load_native_certs();
    for cert in native.certs {
        // System stores hold some ancient or unparsable certificates: skip them, as reqwest does.
        let _ = roots.add(cert);
    }
    let mut extra = Vec::new();
    if let Some(path) = ca_file {
        extra = load_ca_file(path)?;
        roots.add_parsable_certificates(extra.iter().cloned());
    }
    let shown = |reason: String| CaFileError::BadCertificate {
        path: ca_file
            .map(|p| p.display().to_string())
            .unwrap_or_else(|| "(system store)".into()),
        reason,
    };
    let webpki = WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider.clone())
        .build()
        .map_err(|e| shown(e.to_string()))?;
    let verifier = Verifier {
        webpki,
        extra,
        ca_file: ca_file.map(Path::to_path_buf),
    };
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| shown(e.to_string()))?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(verifier))
        .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(config)
}

/// webpki's verification, plus the certificates of the CA file trusted as given (see the
/// module documentation).
#[derive(Debug)]
struct Verifier {
    webpki: Arc<WebPkiServerVerifier>,
    /// The CA file's certificates.
    extra: Vec<CertificateDer<'static>>,
    ca_file: Option<PathBuf>,
}

impl Verifier {
    /// A certificate the CA file lists, presented by the server itself: trusted when it is
    /// valid now and for the server's name.
    fn verify_listed(
        &self,
        end_entity: &CertificateDer<'_>,
        server_name: &ServerName<'_>,
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let (not_before, not_after) = validity(end_entity).ok_or(
            rustls::Error::InvalidCertificate(CertificateError::BadEncoding),
        )?;
        let now_secs = now.as_secs() as i64;
        if now_secs < not_before {
            return Err(CertificateError::NotValidYet.into());
        }
        if now_secs > not_after {
            return Err(CertificateError::Expired.into());
        }
        let parsed = rustls::server::ParsedCertificate::try_from(end_entity)?;
        rustls::client::verify_server_name(&parsed, server_name)?;
        Ok(ServerCertVerified::assertion())
    }

    /// The refusal, with what was trusted and what to check.
    fn refused(&self, error: rustls::Error) -> rustls::Error {
        rustls::Error::InvalidCertificate(CertificateError::Other(OtherError(Arc::new(Refused {
            reason: error,
            ca_file: self.ca_file.clone(),
        }))))
    }
}

/// Is this webpki's refusal of a certificate that a listed certificate may still vouch for?
fn listed_may_help(error: &rustls::Error) -> bool {
    match error {
        rustls::Error::InvalidCertificate(CertificateError::UnknownIssuer) => true,
        rustls::Error::InvalidCertificate(CertificateError::Other(OtherError(e))) => matches!(
            e.downcast_ref::<webpki::Error>(),
            Some(webpki::Error::CaUsedAsEndEntity)
        ),
        _ => false,
    }
}

impl ServerCertVerifier for Verifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        match self.webpki.verify_server_cert(
            end_entity,
            intermediates,
            server_name,
            ocsp_response,
            now,
        ) {
            Ok(v) => Ok(v),
            Err(e)
                if listed_may_help(&e)
                    && self.extra.iter().any(|c| c.as_ref() == end_entity.as_ref()) =>
            {
                self.verify_listed(end_entity, server_name, now)
                    .map_err(|e| self.refused(e))
            }
            Err(e) => Err(self.refused(e)),
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.webpki.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.webpki.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.webpki.supported_verify_schemes()
    }
}

/// A refused server certificate: the reason in words, what was trusted, what to do.
#[derive(Debug)]
struct Refused {
    reason: rustls::Error,
    ca_file: Option<PathBuf>,
}

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let unknown = listed_may_help(&self.reason);
        match &self.reason {
            _ if unknown => {
                f.write_str("the server's TLS certificate is not signed by a trusted CA")?
            }
            rustls::Error::InvalidCertificate(c) => {
                write!(f, "the server's TLS certificate was refused: {c}")?
            }
            other => write!(f, "the server's TLS certificate was refused: {other}")?,
        }
        match (&self.ca_file, unknown) {
            (None, true) => f.write_str(
                " (trusted: this computer's CA certificates). If a proxy on your network inspects HTTPS traffic, or the server uses its own CA, set its CA certificate file (PEM) with `ca_file` in the job or the FLIPLET_CA_FILE environment variable; verification is never turned off",
            ),
            (Some(p), true) => write!(
                f,
                " (trusted: this computer's CA certificates and the certificates of {}). Check that this file holds the certificate of the CA that signed the server's certificate, or the server's own certificate as the server sends it",
                p.display()
            ),
            (_, false) => f.write_str(
                ". Check the host name in the URL (it must be a name the certificate lists) and this computer's clock",
            ),
        }
    }
}

impl std::error::Error for Refused {}

/// The certificate error behind a failed request, worded with its hint, if that is why it
/// failed. Such errors are not transient: retrying cannot help.
pub fn certificate_error(e: &(dyn std::error::Error + 'static)) -> Option<String> {
    match find_rustls(e)? {
        rustls::Error::InvalidCertificate(CertificateError::Other(OtherError(o)))
            if o.is::<Refused>() =>
        {
            Some(o.to_string())
        }
        rustls::Error::InvalidCertificate(c) => {
            Some(format!("the server's TLS certificate was refused: {c}"))
        }
        _ => None,
    }
}

/// How a request failed, in words: "timed out", "could not connect" or "failed".
pub fn failure(e: &reqwest::Error) -> &'static str {
    if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "could not connect"
    } else {
        "failed"
    }
}

/// An error and each of its sources, joined with ": " (what reqwest and hyper errors need to
/// say what actually failed: "error sending request: connection refused").
pub fn error_chain(e: &dyn std::error::Error) -> String {
    let mut message = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        message.push_str(": ");
        message.push_str(&s.to_string());
        source = s.source();
    }
    message
}

/// The rustls error in a chain of errors. `io::Error` hides the error it wraps from
/// `source()` (and wrappers nest), so each one is opened.
fn find_rustls<'a>(e: &'a (dyn std::error::Error + 'static)) -> Option<&'a rustls::Error> {
    if let Some(r) = e.downcast_ref::<rustls::Error>() {
        return Some(r);
    }
    if let Some(inner) = e
        .downcast_ref::<std::io::Error>()
        .and_then(|io| io.get_ref())
        && let Some(r) = find_rustls(inner)
    {
        return Some(r);
    }
    e.source().and_then(find_rustls)
}

// ---------------------------------------------------------------------------------------
// The validity of a certificate (DER), read without a full X.509 parser.
// ---------------------------------------------------------------------------------------

/// One DER element with tag `tag`: its contents and what follows it.
fn der_element(input: &[u8], tag: u8) -> Option<(&[u8], &[u8])> {
    let (&t, rest) = input.split_first()?;
    if t != tag {
        return None;
    }
    let (&first, rest) = rest.split_first()?;
    let (len, rest) = if first < 0x80 {
        (first as usize, rest)
    } else {
        let n = (first & 0x7f) as usize;
        if n == 0 || n > 4 || rest.len() < n {
            return None;
        }
        let len = rest[..n].iter().fold(0usize, |a, &b| (a << 8) | b as usize);
        (len, &rest[n..])
    };
    (rest.len() >= len).then(|| (&rest[..len], &rest[len..]))
}

/// Skip one DER element of any tag.
fn der_skip(input: &[u8]) -> Option<&[u8]> {
    der_element(input, *input.first()?).map(|(_, rest)| rest)
}

/// A UTCTime or GeneralizedTime (`…Z`) as UNIX seconds.
fn der_time(input: &[u8]) -> Option<(i64, &[u8])> {
    let (tag, text) = (*input.first()?, input);
    let (contents, rest) = der_element(text, tag)?;
    let s = std::str::from_utf8(contents).ok()?;
    let s = s.strip_suffix('Z')?;
    let full = match tag {
        0x17 if s.len() == 12 => {
            let yy: i32 = s[..2].parse().ok()?;
            format!("{}{}", if yy < 50 { 2000 + yy } else { 1900 + yy }, &s[2..])
        }
        0x18 if s.len() == 14 => s.to_string(),
        _ => return None,
    };
    let t = chrono::NaiveDateTime::parse_from_str(&full, "%Y%m%d%H%M%S").ok()?;
    Some((t.and_utc().timestamp(), rest))
}

/// `notBefore` and `notAfter` of a certificate, as UNIX seconds.
fn validity(cert: &[u8]) -> Option<(i64, i64)> {
    let (certificate, _) = der_element(cert, 0x30)?;
    let (tbs, _) = der_element(certificate, 0x30)?;
    let mut rest = tbs;
    if rest.first() == Some(&0xA0) {
        rest = der_skip(rest)?; // version
    }
    rest = der_skip(rest)?; // serialNumber
    rest = der_skip(rest)?; // signature
    rest = der_skip(rest)?; // issuer
    let (validity, _) = der_element(rest, 0x30)?;
    let (not_before, rest) = der_time(validity)?;
    let (not_after, _) = der_time(rest)?;
    Some((not_before, not_after))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `openssl req -x509 -newkey rsa:2048 -nodes -subj /CN=localhost -days 1
    /// -addext subjectAltName=DNS:localhost,IP:127.0.0.1` (a `CA:TRUE` leaf), made on
    /// 2026-12-01: valid from 2026-12-01 18:00:42 to 2026-12-02 18:00:42 UTC.
    const ONE_DAY: &str = include_str!("../tests/fixtures/tls/one-day.pem");

    fn cert() -> CertificateDer<'static> {
        CertificateDer::from_pem_slice(ONE_DAY.as_bytes()).unwrap()
    }

    fn at(s: &str) -> UnixTime {
        let t = chrono::DateTime::parse_from_rfc3339(s).unwrap();
        UnixTime::since_unix_epoch(Duration::from_secs(t.timestamp() as u64))
    }

    #[test]
    fn validity_is_read_from_the_certificate() {
        let (nb, na) = validity(cert().as_ref()).unwrap();
        assert_eq!(nb, at("2026-12-01T18:00:42Z").as_secs() as i64);
        assert_eq!(na, at("2026-12-02T18:00:42Z").as_secs() as i64);
        assert!(validity(b"\x30\x03\x02\x01\x01").is_none());
        assert!(validity(b"").is_none());
    }

    #[test]
    fn a_listed_certificate_is_still_checked_for_time_and_name() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ca.pem");
        std::fs::write(&path, ONE_DAY).unwrap();
        let mut roots = rustls::RootCertStore::empty();
        roots.add(cert()).unwrap();
        let verifier = Verifier {
            webpki: WebPkiServerVerifier::builder_with_provider(
                Arc::new(roots),
                Arc::new(rustls::crypto::ring::default_provider()),
            )
            .build()
            .unwrap(),
            extra: load_ca_file(&path).unwrap(),
            ca_file: Some(path),
        };
        let localhost = ServerName::try_from("localhost").unwrap();
        let during = at("2026-12-02T00:00:00Z");
        assert!(verifier.verify_listed(&cert(), &localhost, during).is_ok());
        let ip = ServerName::try_from("127.0.0.1").unwrap();
        assert!(verifier.verify_listed(&cert(), &ip, during).is_ok());
        let other = ServerName::try_from("example.com").unwrap();
        assert!(verifier.verify_listed(&cert(), &other, during).is_err());
        let after = at("2026-12-03T00:00:00Z");
        assert_eq!(
            verifier
                .verify_listed(&cert(), &localhost, after)
                .unwrap_err(),
            rustls::Error::InvalidCertificate(CertificateError::Expired)
        );
        let before = at("2026-11-30T00:00:00Z");
        assert_eq!(
            verifier
                .verify_listed(&cert(), &localhost, before)
                .unwrap_err(),
            rustls::Error::InvalidCertificate(CertificateError::NotValidYet)
        );
    }

    #[test]
    fn unusable_ca_files_are_errors() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("missing.pem");
        let e = load_ca_file(&missing).unwrap_err();
        assert!(
            e.to_string().starts_with(&format!(
                "Cannot read the CA certificate file {}",
                missing.display()
            )),
            "{e}"
        );
        let text = dir.path().join("notes.pem");
        std::fs::write(&text, "hello").unwrap();
        assert!(matches!(
            load_ca_file(&text),
            Err(CaFileError::NotPem { .. })
        ));
        let der = dir.path().join("cert.der");
        std::fs::write(&der, cert().as_ref()).unwrap();
        let e = load_ca_file(&der).unwrap_err().to_string();
        assert!(e.contains("binary (DER)"), "{e}");
        assert!(load_ca_file(dir.path()).is_err());
    }
}
