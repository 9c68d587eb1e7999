//! Errors as a client reads and reports them. Every error of the service answers with JSON
//! `{"error": kind, "message": …}` (plus `field` when one input is to blame).

/// The `message` of an error answer's body, or the body itself when it is not one (a proxy's
/// page, plain text): what a client shows its user.
pub(crate) fn message_of(body: String) -> String {
    serde_json::from_str::<serde_json::Value>(&body)
        .ok()
        .and_then(|v| v["message"].as_str().map(str::to_string))
        .unwrap_or(body)
}

/// The innermost cause of an error ("Connection refused (os error 111)"), the part a person
/// can act on when a call did not reach the other side.
pub(crate) fn innermost(e: &(dyn std::error::Error + 'static)) -> String {
    let mut last: &(dyn std::error::Error + 'static) = e;
    while let Some(s) = last.source() {
        last = s;
    }
    // One line: it ends up in a one-line message.
    last.to_string().replace('\n', " ")
}

/// An error with its causes, innermost last ("connection refused" is usually at the end).
pub(crate) fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}
