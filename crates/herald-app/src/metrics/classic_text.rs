//! The Prometheus text format 0.0.4, for scrapers (and generated API
//! clients) that do not ask for OpenMetrics.
//!
//! prometheus-client writes only OpenMetrics. The two formats share the
//! sample lines; they differ in that OpenMetrics names a counter family
//! without its `_total` suffix (`# TYPE x counter` over `x_total` samples)
//! and ends with `# EOF`. This turns one into the other.

/// The 0.0.4 text of an OpenMetrics exposition written by prometheus-client.
pub(super) fn from_openmetrics(openmetrics: &str) -> String {
    let mut out = String::with_capacity(openmetrics.len());
    let lines: Vec<&str> = openmetrics.lines().collect();
    for (i, line) in lines.iter().enumerate() {
        if *line == "# EOF" || line.starts_with("# UNIT ") {
            continue;
        }
        // `# HELP x …` comes right before `# TYPE x counter`.
        let counter_help =
            line.starts_with("# HELP ") && lines.get(i + 1).is_some_and(|next| next.starts_with("# TYPE ") && next.ends_with(" counter"));
        let counter_type = line.starts_with("# TYPE ") && line.ends_with(" counter");
        if counter_help || counter_type {
            let (keyword, rest) = line.split_at(7);
            let (name, tail) = rest.split_once(' ').unwrap_or((rest, ""));
            out.push_str(keyword);
            out.push_str(name);
            out.push_str("_total ");
            out.push_str(tail);
        } else {
            out.push_str(line);
        }
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::from_openmetrics;

    #[test]
    fn counters_take_their_total_name_and_eof_goes() {
        let om = "# HELP a_things Things seen.\n# TYPE a_things counter\na_things_total{k=\"v\"} 3\n\
                  # HELP a_now Now.\n# TYPE a_now gauge\na_now 1\n# EOF\n";
        assert_eq!(
            from_openmetrics(om),
            "# HELP a_things_total Things seen.\n# TYPE a_things_total counter\na_things_total{k=\"v\"} 3\n\
             # HELP a_now Now.\n# TYPE a_now gauge\na_now 1\n"
        );
    }
}
