//! Did-you-mean: the one rule every entry point (variables, topic settings, annotations, derive
//! attributes) uses to suggest the name a misspelt one most likely meant.

/// The candidate closest to `word` by edit distance, if it is close enough to be a likely typo:
/// at most 2 edits, or a quarter of the candidate's length for longer names.
///
/// ```
/// use kafkadeps_core::suggest::closest;
///
/// assert_eq!(closest("KAFKA_CONSUME", ["KAFKA_PRODUCES", "KAFKA_CONSUMES"]), Some("KAFKA_CONSUMES"));
/// assert_eq!(closest("colour", ["topic", "key"]), None);
/// ```
pub fn closest<'a>(word: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    candidates
        .into_iter()
        .map(|c| (strsim::levenshtein(word, c), c))
        .filter(|(d, c)| *d <= (c.len() / 4).max(2))
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}
