//! A transcript line as Claude Code writes it; shared with the app's tests (`src-tauri/tests`
//! includes this file).

/// One assistant response at `at_ms` (Sonnet 4.5, 1,000 input and 500 output tokens), with
/// ids made from `n`; ends with a newline.
pub fn transcript_line(at_ms: i64, n: usize) -> String {
    let at = chrono::DateTime::from_timestamp_millis(at_ms).unwrap();
    serde_json::json!({
        "type": "assistant",
        "timestamp": at.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string(),
        "sessionId": "s1",
        "requestId": format!("req_{n}"),
        "message": {"id": format!("msg_{n}"), "model": "claude-sonnet-4-5-20250929",
                    "usage": {"input_tokens": 1000, "output_tokens": 500}}
    })
    .to_string()
        + "\n"
}
