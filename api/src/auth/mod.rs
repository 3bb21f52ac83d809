//! API tokens and what they may do: [`token`] makes and hashes them, [`store`] keeps them
//! in Postgres, [`caller`] checks the one a request carries.

pub mod caller;
pub mod store;
pub mod token;

pub use caller::{Admin, Caller, Read, Submit};
pub use store::{NewToken, TokenRow};
pub use token::{Scope, Token};
