//! API-key scopes and the rule that decides whether a key may use a route.

use std::fmt;
use std::str::FromStr;

/// What an API key may do. `Admin` allows everything; the others allow one family of routes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Scope {
    RequestCreate,
    RequestRead,
    RequestDecide,
    WebhookManage,
    Admin,
}

impl Scope {
    pub const ALL: [Scope; 5] =
        [Scope::RequestCreate, Scope::RequestRead, Scope::RequestDecide, Scope::WebhookManage, Scope::Admin];

    pub fn as_str(self) -> &'static str {
        match self {
            Scope::RequestCreate => "request:create",
            Scope::RequestRead => "request:read",
            Scope::RequestDecide => "request:decide",
            Scope::WebhookManage => "webhook:manage",
            Scope::Admin => "admin",
        }
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Scope {
    type Err = ();
    fn from_str(s: &str) -> Result<Self, ()> {
        Scope::ALL.into_iter().find(|scope| scope.as_str() == s).ok_or(())
    }
}

/// True when a principal holding `held` may use a route that requires `required`.
pub fn allows(held: &[Scope], required: Scope) -> bool {
    held.iter().any(|s| *s == required || *s == Scope::Admin)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn admin_allows_everything_and_others_only_themselves() {
        for required in Scope::ALL {
            assert!(allows(&[Scope::Admin], required));
            for held in Scope::ALL {
                assert_eq!(allows(&[held], required), held == required || held == Scope::Admin);
            }
        }
        assert!(!allows(&[], Scope::RequestRead));
    }

    #[test]
    fn parses_the_wire_names() {
        for s in Scope::ALL {
            assert_eq!(s.as_str().parse::<Scope>(), Ok(s));
        }
        assert!("root".parse::<Scope>().is_err());
    }
}
