// The migrations are embedded by `sqlx::migrate!`; a new file in their folders must rebuild
// the crate, which cargo does not know by itself.
fn main() {
    println!("cargo:rerun-if-changed=migrations");
}
