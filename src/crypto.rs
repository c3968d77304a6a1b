//! Field encryption readable by Fliplet apps (CryptoJS passphrase mode), and sealing of local
//! secrets at rest. TODO: implemented by the crypto work item.
