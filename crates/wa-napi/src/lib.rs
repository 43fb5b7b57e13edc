//! The pieces both napi addons of baileys-native share. Only binding code lives here (it is
//! part of the binding layer; `unsafe` appears only with a `// SAFETY:` line).

pub mod errors;
