//! Glob patterns: `*` matches any run of characters (including none), `?` exactly one character, everything
//! else itself. A glob is anchored at both ends and has no escapes. Matching is `O(len(input) × len(pattern))`
//! in the worst case and needs no allocation.

/// A compiled glob pattern.
#[derive(Debug, Clone)]
pub struct Glob {
    source: String,
    /// The pattern split at `*`: more than one part means there was at least one star.
    parts: Vec<String>,
    /// Whether any part has a `?` (otherwise the parts are plain text, matched with the string searches).
    single: bool,
}

impl Glob {
    /// Compiles a pattern; every string is a valid glob.
    pub fn new(source: &str) -> Self {
        Self {
            source: source.to_owned(),
            parts: source.split('*').map(str::to_owned).collect(),
            single: source.contains('?'),
        }
    }

    pub(super) fn source(&self) -> &str {
        &self.source
    }

    /// The literal text before the first wildcard: every match starts with it.
    pub(super) fn literal_prefix(&self) -> &str {
        self.source.find(['*', '?']).map_or(self.source.as_str(), |end| &self.source[..end])
    }

    /// Whether the whole of `input` matches the pattern.
    pub fn is_match(&self, input: &str) -> bool {
        let (first, rest) = match self.parts.split_first() {
            Some(split) => split,
            None => return input.is_empty(),
        };
        let Some((last, middle)) = rest.split_last() else {
            // No star: the whole input must match the one part.
            return if self.single { prefix_len(input, first) == Some(input.len()) } else { input == first };
        };
        let (start, end) = if self.single {
            let Some(start) = prefix_len(input, first) else {
                return false;
            };
            let Some(end) = suffix_start(&input[start..], last) else {
                return false;
            };
            (start, start + end)
        } else {
            let fits = input.len() >= first.len() + last.len();
            // Empty parts are skipped by hand: comparing an empty slice still calls `memcmp`.
            let head = first.is_empty() || input.starts_with(first.as_str());
            let tail = last.is_empty() || input.ends_with(last.as_str());
            if !fits || !head || !tail {
                return false;
            }
            (first.len(), input.len() - last.len())
        };
        // Leftmost placement of each middle part leaves the most room for the parts after it.
        let mut window = &input[start..end];
        for part in middle.iter().filter(|p| !p.is_empty()) {
            let found =
                if self.single { find(window, part) } else { window.find(part.as_str()).map(|at| at + part.len()) };
            match found {
                Some(after) => window = &window[after..],
                None => return false,
            }
        }
        true
    }
}

/// If `input` starts with `part` (`?` matching any one character), the byte length of that prefix.
fn prefix_len(input: &str, part: &str) -> Option<usize> {
    let mut chars = input.char_indices();
    for p in part.chars() {
        let (_, c) = chars.next()?;
        if p != '?' && p != c {
            return None;
        }
    }
    Some(chars.next().map_or(input.len(), |(i, _)| i))
}

/// If `input` ends with `part` (`?` matching any one character), the byte offset where that suffix starts.
fn suffix_start(input: &str, part: &str) -> Option<usize> {
    let mut chars = input.char_indices().rev();
    let mut start = input.len();
    for p in part.chars().rev() {
        let (i, c) = chars.next()?;
        if p != '?' && p != c {
            return None;
        }
        start = i;
    }
    Some(start)
}

/// The byte offset just after the leftmost occurrence of `part` in `input`.
fn find(input: &str, part: &str) -> Option<usize> {
    input.char_indices().find_map(|(i, _)| prefix_len(&input[i..], part).map(|len| i + len))
}

#[cfg(test)]
mod tests {
    use super::Glob;

    #[test]
    fn globs_are_anchored_and_match_runs_and_single_characters() {
        let cases: &[(&str, &str, bool)] = &[
            ("deploy:*", "deploy:prod", true),
            ("deploy:*", "deploy:", true),
            ("deploy:*", "deploy", false),
            ("deploy:*", "redeploy:prod", false),
            ("*:prod", "deploy:prod", true),
            ("*:prod", "deploy:prod2", false),
            ("*", "", true),
            ("*", "anything", true),
            ("**", "x", true),
            ("", "", true),
            ("", "x", false),
            ("a?c", "abc", true),
            ("a?c", "ac", false),
            ("a?c", "abbc", false),
            ("a?c", "aëc", true),
            ("?", "ë", true),
            ("??", "ë", false),
            ("a*b*c", "abc", true),
            ("a*b*c", "axxbyyc", true),
            ("a*b*c", "axxbyy", false),
            ("a*b*c", "acb", false),
            ("a*ab", "aab", true),
            ("a*a", "a", false),
            ("*a*a*", "aa", true),
            ("*a*a*", "ab", false),
            ("db_*_all", "db_drop_all", true),
            ("db_*_all", "db__all", true),
            ("db_*_all", "db_all", false),
            ("*?", "", false),
            ("*?", "x", true),
            ("x*?*y", "xzy", true),
            ("x*?*y", "xy", false),
            ("exact", "exact", true),
            ("exact", "Exact", false),
            ("*.ssh/*", "/home/u/.ssh/id_rsa", true),
        ];
        let failures: Vec<String> = cases
            .iter()
            .filter(|(pattern, input, expected)| Glob::new(pattern).is_match(input) != *expected)
            .map(|(pattern, input, expected)| format!("{pattern:?} on {input:?}: expected {expected}"))
            .collect();
        assert!(failures.is_empty(), "{}", failures.join("\n"));
    }
}
