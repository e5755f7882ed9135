pub mod bench;
pub mod embed;
pub mod info;
pub mod tokenize;
