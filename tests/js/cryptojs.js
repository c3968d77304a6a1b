#!/usr/bin/env node
// Test helper for tests/crypto_js.rs: runs the real crypto-js (pinned in package.json) the
// way the Fliplet Agent and Fliplet apps do.
//
//   node cryptojs.js encrypt <passphrase>   stdin: UTF-8 plaintext  -> stdout: ciphertext
//   node cryptojs.js decrypt <passphrase>   stdin: ciphertext       -> stdout: UTF-8 plaintext
//   node cryptojs.js batch                  stdin: JSON [{"op": "encrypt"|"decrypt",
//                                           "key": "...", "input": "..."}, ...]
//                                           -> stdout: JSON [{"ok": "..."} | {"error": "..."}]
//
// encrypt = CryptoJS.AES.encrypt(text, passphrase).toString()
// decrypt = CryptoJS.AES.decrypt(ciphertext, passphrase).toString(CryptoJS.enc.Utf8)
// Output has no trailing newline. Errors go to stderr with exit code 1 (usage: 2).
'use strict';

const CryptoJS = require('crypto-js');

function run(op, passphrase, input) {
  if (op === 'encrypt') {
    return CryptoJS.AES.encrypt(input, passphrase).toString();
  }
  if (op === 'decrypt') {
    return CryptoJS.AES.decrypt(input, passphrase).toString(CryptoJS.enc.Utf8);
  }
  throw new Error(`unknown op ${JSON.stringify(op)}`);
}

const [mode, passphrase] = process.argv.slice(2);
if (!(mode === 'batch' || (['encrypt', 'decrypt'].includes(mode) && passphrase !== undefined))) {
  process.stderr.write('usage: node cryptojs.js encrypt|decrypt <passphrase> < input\n' +
    '       node cryptojs.js batch < requests.json\n');
  process.exit(2);
}

const chunks = [];
process.stdin.on('data', (chunk) => chunks.push(chunk));
process.stdin.on('end', () => {
  const input = Buffer.concat(chunks).toString('utf8');
  try {
    if (mode === 'batch') {
      const results = JSON.parse(input).map(({ op, key, input: text }) => {
        try {
          return { ok: run(op, key, text) };
        } catch (err) {
          return { error: `crypto-js ${op} failed: ${err.message}` };
        }
      });
      process.stdout.write(JSON.stringify(results));
    } else {
      process.stdout.write(run(mode, passphrase, input));
    }
  } catch (err) {
    process.stderr.write(`crypto-js ${mode} failed: ${err.message}\n`);
    process.exit(1);
  }
});
