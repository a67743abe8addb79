//! The binary embeds `data/` and `web/app/` (`include_dir!`). Edits to embedded files rebuild on
//! their own; these lines make adding or removing a file there rebuild too.

fn main() {
    println!("cargo:rerun-if-changed=data");
    println!("cargo:rerun-if-changed=web/app");
}
