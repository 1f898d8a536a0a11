//! Values with units: `*.ms` keys take durations (`500ms`, `30s`, `15m`, `12h`, `7d`), `*.bytes`
//! keys take sizes (`512KiB`, `64MiB`, `1GiB`). Both normalize to the plain integer Kafka expects.

/// Normalizes a `*.ms` value to milliseconds. `-1` (Kafka's "unlimited") passes through.
pub(crate) fn parse_millis(value: &str) -> Result<i64, String> {
    parse_with_units(
        value,
        &[
            ("ms", 1),
            ("s", 1_000),
            ("m", 60_000),
            ("h", 3_600_000),
            ("d", 86_400_000),
        ],
        "a duration such as 500ms, 30s, 15m, 12h, 7d or plain milliseconds",
    )
}

/// Normalizes a `*.bytes` value to bytes. `-1` (Kafka's "unlimited") passes through.
pub(crate) fn parse_bytes(value: &str) -> Result<i64, String> {
    parse_with_units(
        value,
        &[
            ("B", 1),
            ("KiB", 1 << 10),
            ("MiB", 1 << 20),
            ("GiB", 1 << 30),
            ("TiB", 1 << 40),
        ],
        "a size such as 512KiB, 64MiB, 1GiB or plain bytes",
    )
}

fn parse_with_units(value: &str, units: &[(&str, i64)], expected: &str) -> Result<i64, String> {
    let v = value.trim();
    let split = v
        .char_indices()
        .find(|&(i, c)| !(c.is_ascii_digit() || (i == 0 && c == '-')))
        .map_or(v.len(), |(i, _)| i);
    let (digits, unit) = v.split_at(split);
    let number: i64 = digits
        .parse()
        .map_err(|_| format!("`{value}` is not {expected}"))?;
    if number == -1 && unit.is_empty() {
        return Ok(-1);
    }
    if number < 0 {
        return Err(format!(
            "`{value}` is negative; only -1 (unlimited) is allowed"
        ));
    }
    let factor = if unit.is_empty() {
        1
    } else {
        units
            .iter()
            .find(|(u, _)| *u == unit.trim())
            .map(|(_, f)| *f)
            .ok_or_else(|| format!("`{value}` has an unknown unit `{unit}`; expected {expected}"))?
    };
    number
        .checked_mul(factor)
        .ok_or_else(|| format!("`{value}` is too large"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_millis("500ms"), Ok(500));
        assert_eq!(parse_millis("30s"), Ok(30_000));
        assert_eq!(parse_millis("15m"), Ok(900_000));
        assert_eq!(parse_millis("12h"), Ok(43_200_000));
        assert_eq!(parse_millis("7d"), Ok(604_800_000));
        assert_eq!(parse_millis("1234"), Ok(1234));
        assert_eq!(parse_millis("-1"), Ok(-1));
        assert!(parse_millis("7w").unwrap_err().contains("unknown unit `w`"));
        assert!(parse_millis("-5s").unwrap_err().contains("negative"));
        assert!(parse_millis("s").unwrap_err().contains("is not a duration"));
        assert!(
            parse_millis("99999999999999d")
                .unwrap_err()
                .contains("too large")
        );
    }

    #[test]
    fn sizes() {
        assert_eq!(parse_bytes("1GiB"), Ok(1 << 30));
        assert_eq!(parse_bytes("64MiB"), Ok(64 << 20));
        assert_eq!(parse_bytes("512KiB"), Ok(512 << 10));
        assert_eq!(parse_bytes("100"), Ok(100));
        assert_eq!(parse_bytes("-1"), Ok(-1));
        assert!(
            parse_bytes("1GB")
                .unwrap_err()
                .contains("unknown unit `GB`")
        );
    }
}
