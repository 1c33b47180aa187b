extension YNode {
    /// A string naming a path or a name (`outputs.directory`, `outputs.database`, a layer's
    /// `source`, …): refused at its line:column when it holds a control character (newline, CR,
    /// NUL, tab, …), which would end up in file names, logs and the Slurm scripts of `submit`.
    func printableString() -> String? {
        guard let text = string() else { return nil }
        if let c = controlCharacter(in: text) {
            error("\(c) is not allowed in a path or a name")
            return nil
        }
        return text
    }
}
