//! Claude Code's `.credentials.json` (`credentials::parse`).
//!
//! Beyond "never panics": an error never quotes the file (it holds the token), a token read
//! never shows in `Debug` or `Display`, and checking the login at any time does not panic.
#![no_main]

use headroom_core::account::credentials::{parse, CredentialsError};
use headroom_core::account::Secret;
use libfuzzer_sys::fuzz_target;

const ORIGIN: &str = "fuzz/.credentials.json";

fuzz_target!(|data: &[u8]| {
    match parse(data, ORIGIN) {
        Ok(credentials) => {
            let token = credentials.access_token.expose();
            assert!(!token.is_empty() && token.trim() == token);
            // What an error or a log line would show of the login does not depend on the
            // token at all.
            let mut without = credentials.clone();
            without.access_token = Secret::new("another token");
            assert_eq!(format!("{credentials:?}"), format!("{without:?}"));
            assert_eq!(
                credentials.access_token.to_string(),
                without.access_token.to_string()
            );
            for now in [i64::MIN, 0, i64::MAX] {
                let _ = credentials.check(now);
            }
        }
        Err(CredentialsError::Malformed { origin, detail }) => {
            assert_eq!(origin, ORIGIN);
            assert!(
                ["not JSON", "no claudeAiOauth object", "no accessToken"]
                    .contains(&detail.as_str()),
                "the error says {detail:?}"
            );
        }
        Err(other) => panic!("parsing bytes gave {other:?}"),
    }
});
