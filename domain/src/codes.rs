//! The codes that name things across systems: a unit's, a procedure's and a dossier's. Each is a type of its
//! own, so that one is never passed where another is meant; all three are opaque text, kept exactly as the
//! sending system wrote it (the interchange format and the GraphQL schema carry them as strings).

use std::borrow::Borrow;
use std::fmt;
use std::ops::Deref;

macro_rules! code {
    ($(#[$meta:meta])* $name:ident) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Default, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
        #[serde(transparent)]
        #[cfg_attr(feature = "sea-orm", derive(sea_orm::DeriveValueType))]
        pub struct $name(String);

        impl $name {
            pub fn new(code: impl Into<String>) -> Self {
                $name(code.into())
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }

            pub fn into_string(self) -> String {
                self.0
            }
        }

        impl Deref for $name {
            type Target = str;
            fn deref(&self) -> &str {
                &self.0
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        /// Maps keyed by the code answer lookups by `&str`.
        impl Borrow<str> for $name {
            fn borrow(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl From<String> for $name {
            fn from(code: String) -> Self {
                $name(code)
            }
        }

        impl From<&str> for $name {
            fn from(code: &str) -> Self {
                $name(code.to_owned())
            }
        }

        impl From<$name> for String {
            fn from(code: $name) -> String {
                code.0
            }
        }

        impl PartialEq<str> for $name {
            fn eq(&self, other: &str) -> bool {
                self.0 == other
            }
        }

        impl PartialEq<&str> for $name {
            fn eq(&self, other: &&str) -> bool {
                self.0 == *other
            }
        }
    };
}

code!(
    /// An administrative unit's code (`49` for Quảng Nam, `20022` for a commune, `G01` for a ministry).
    UnitCode
);
code!(
    /// An administrative procedure's code in the national catalogue (`1.001757`).
    ProcedureCode
);
code!(
    /// A dossier's receipt code (`000.00.20022-241105-00001`): what a citizen holds and asks about.
    DossierCode
);

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    #[test]
    fn codes_are_their_text_in_json_and_in_maps() {
        let code = UnitCode::new("20022");
        assert_eq!(serde_json::to_string(&code).unwrap(), "\"20022\"");
        assert_eq!(serde_json::from_str::<UnitCode>("\"20022\"").unwrap(), code);
        let map = HashMap::from([(code.clone(), 1)]);
        assert_eq!(map.get("20022"), Some(&1));
        assert_eq!(code, "20022");
        assert_eq!(code.to_string(), "20022");
    }
}
