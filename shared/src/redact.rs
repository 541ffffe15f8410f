//! `Debug` for types that hold personal data (names, handles, user ids, note and message text,
//! attribute values): ids and flags print, the rest shows as `<redacted>`, so no `{:?}` in a log
//! line or a panic message can leak it.

use std::fmt;

/// Stands in for a redacted field.
pub struct Redacted;

impl fmt::Debug for Redacted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

/// Implements `Debug` for a struct showing only the named fields.
#[macro_export]
macro_rules! debug_showing {
    ($ty:ty { $($field:ident),* }) => {
        impl ::std::fmt::Debug for $ty {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.debug_struct(stringify!($ty))
                    $(.field(stringify!($field), &self.$field))*
                    .field("personal_data", &$crate::redact::Redacted)
                    .finish()
            }
        }
    };
}
