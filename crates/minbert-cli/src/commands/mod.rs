pub mod bench;
pub mod data;
pub mod embed;
pub mod export;
pub mod info;
pub mod report;
pub mod tokenize;
pub mod train;
