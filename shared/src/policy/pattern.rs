//! Wildcard patterns of policies (`*` any run of characters, `?` one character) with policy
//! variables (`${aws:username}`) substituted before matching.

/// One element of a compiled pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Tok {
    Char(char),
    Star,
    Question,
}

/// A pattern after variable substitution. Characters that came from `${*}`, `${?}`, `${$}` or
/// from a variable's value are literal, never wildcards.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pattern(Vec<Tok>);

/// Looks up the single value of a condition key for a policy variable.
pub trait Variables {
    fn variable(&self, key: &str) -> Option<String>;
}

impl Variables for () {
    fn variable(&self, _: &str) -> Option<String> {
        None
    }
}

impl Pattern {
    /// Compiles `text`, substituting `${...}` when `with_variables` (policy version
    /// 2012-10-17). `None` when a variable has no value and no default: AWS then treats the
    /// element as not matching.
    pub fn compile(text: &str, with_variables: bool, vars: &dyn Variables) -> Option<Pattern> {
        let mut toks = Vec::with_capacity(text.len());
        let mut rest = text;
        while let Some(c) = rest.chars().next() {
            if with_variables
                && rest.starts_with("${")
                && let Some(end) = rest.find('}')
            {
                let inner = &rest[2..end];
                let value = match inner {
                    "*" | "?" | "$" => inner.to_string(),
                    _ => substitute(inner, vars)?,
                };
                toks.extend(value.chars().map(Tok::Char));
                rest = &rest[end + 1..];
                continue;
            }
            toks.push(match c {
                '*' => Tok::Star,
                '?' => Tok::Question,
                c => Tok::Char(c),
            });
            rest = &rest[c.len_utf8()..];
        }
        Some(Pattern(toks))
    }

    /// The pattern as a literal string (for the operators without wildcards).
    pub fn literal(&self) -> String {
        self.0
            .iter()
            .map(|t| match t {
                Tok::Char(c) => *c,
                Tok::Star => '*',
                Tok::Question => '?',
            })
            .collect()
    }

    /// Whether the whole of `text` matches (greedy star with backtracking, linear in practice).
    pub fn matches(&self, text: &str, ignore_case: bool) -> bool {
        let eq = |a: char, b: char| {
            if ignore_case {
                a.eq_ignore_ascii_case(&b) || a.to_lowercase().eq(b.to_lowercase())
            } else {
                a == b
            }
        };
        let text: Vec<char> = text.chars().collect();
        let (mut p, mut t) = (0usize, 0usize);
        let mut backtrack: Option<(usize, usize)> = None;
        while t < text.len() {
            match self.0.get(p) {
                Some(Tok::Star) => {
                    backtrack = Some((p, t));
                    p += 1;
                    continue;
                }
                Some(Tok::Question) => {
                    p += 1;
                    t += 1;
                    continue;
                }
                Some(Tok::Char(c)) if eq(*c, text[t]) => {
                    p += 1;
                    t += 1;
                    continue;
                }
                _ => {}
            }
            match backtrack {
                Some((bp, bt)) => {
                    p = bp + 1;
                    t = bt + 1;
                    backtrack = Some((bp, bt + 1));
                }
                None => return false,
            }
        }
        self.0[p.min(self.0.len())..]
            .iter()
            .all(|t| *t == Tok::Star)
    }
}

/// `aws:username` or `aws:username, 'default'`.
fn substitute(inner: &str, vars: &dyn Variables) -> Option<String> {
    let (key, default) = match inner.split_once(',') {
        Some((k, d)) => {
            let d = d.trim();
            let d = d.strip_prefix('\'').and_then(|d| d.strip_suffix('\''))?;
            (k.trim(), Some(d.to_string()))
        }
        None => (inner.trim(), None),
    };
    vars.variable(key).or(default)
}

/// Whether `pattern` (with wildcards, no variables) matches `text`.
pub fn wildcard_match(pattern: &str, text: &str, ignore_case: bool) -> bool {
    Pattern::compile(pattern, false, &()).is_some_and(|p| p.matches(text, ignore_case))
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Vars;
    impl Variables for Vars {
        fn variable(&self, key: &str) -> Option<String> {
            (key.eq_ignore_ascii_case("aws:username")).then(|| "al*ce".to_string())
        }
    }

    #[test]
    fn wildcards() {
        for (p, t, want) in [
            ("kms:*", "kms:GetParametersForImport", true),
            ("kms:Get*ForImport", "kms:GetParametersForImport", true),
            ("kms:Get?", "kms:Get", false),
            ("kms:Get?", "kms:Gets", true),
            ("*", "", true),
            ("", "", true),
            ("a*b*c", "aXbYbZc", true),
            ("a*b*c", "aXbYbZ", false),
            (
                "arn:aws:kms:*:111122223333:key/*",
                "arn:aws:kms:us-east-1:111122223333:key/k",
                true,
            ),
            (
                "arn:aws:kms:*:111122223333:key/*",
                "arn:aws:kms:us-east-1:444455556666:key/k",
                false,
            ),
        ] {
            assert_eq!(wildcard_match(p, t, false), want, "{p} ~ {t}");
        }
        assert!(wildcard_match("KMS:encrypt", "kms:Encrypt", true));
        assert!(!wildcard_match("KMS:encrypt", "kms:Encrypt", false));
    }

    #[test]
    fn variables_are_literal() {
        let p = Pattern::compile("arn:aws:iam::1:user/${aws:username}", true, &Vars).unwrap();
        assert!(p.matches("arn:aws:iam::1:user/al*ce", false));
        assert!(
            !p.matches("arn:aws:iam::1:user/alXce", false),
            "a value's * is no wildcard"
        );
        let p = Pattern::compile("x${*}y", true, &Vars).unwrap();
        assert!(p.matches("x*y", false) && !p.matches("xay", false));
        assert_eq!(Pattern::compile("${aws:userid}", true, &Vars), None);
        let p = Pattern::compile("${aws:userid, 'none'}", true, &Vars).unwrap();
        assert_eq!(p.literal(), "none");
        let p = Pattern::compile("${aws:username}", false, &Vars).unwrap();
        assert_eq!(
            p.literal(),
            "${aws:username}",
            "2008-10-17 policies have no variables"
        );
    }
}
