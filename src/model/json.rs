//! For the reports whose JSON is still the model's own shape (inspect, verify, copy): a typed
//! reason written as its words (`#[serde(serialize_with = "crate::model::json::as_text")]`).
//! The words are the reason's `Display` ([`crate::message`]); nothing here depends on them.

/// A typed reason of the model, written into JSON as its words (`#[serde(serialize_with)]`),
/// for the reports whose JSON is still the model's own shape.
pub fn as_text<T: std::fmt::Display, S: serde::Serializer>(
    value: &T,
    s: S,
) -> Result<S::Ok, S::Error> {
    s.collect_str(value)
}

/// [`as_text`] of each item of a list.
pub fn as_texts<T: std::fmt::Display, S: serde::Serializer>(
    values: &[T],
    s: S,
) -> Result<S::Ok, S::Error> {
    s.collect_seq(values.iter().map(ToString::to_string))
}

/// [`as_text`] of an optional value (`null` when absent).
pub fn as_text_opt<T: std::fmt::Display, S: serde::Serializer>(
    value: &Option<T>,
    s: S,
) -> Result<S::Ok, S::Error> {
    match value {
        Some(v) => s.collect_str(v),
        None => s.serialize_none(),
    }
}
