fn main() {
    eprintln!("fliplet-emulator: not implemented yet");
    std::process::exit(1);
}
