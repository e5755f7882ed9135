pub mod embed;
pub mod info;
pub mod tokenize;
