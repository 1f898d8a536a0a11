//! kafkadeps-macros
