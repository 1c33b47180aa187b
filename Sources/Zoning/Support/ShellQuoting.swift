/// The one quoting of a value for a shell command line: the command lines `plan` prints and every
/// value of the Slurm scripts `submit` writes (`Cluster/Slurm.swift`).
///
/// A value of letters, digits and `_ . / : = + , -` only stays as it is; any other (empty, spaces,
/// quotes, `$`, backquotes, `;`, `#`, `*`, `~`, `\`, non-ASCII, control characters) is put in
/// single quotes, each `'` written `'\''`. Inside single quotes bash takes every byte literally
/// (a newline too), so the value is one word, never code. Slurm's `#SBATCH` parser reads the same
/// quoting alike except for `\`, which it takes as an escape even inside quotes (see
/// `Operations.sbatchDirective`). Callers that write scripts refuse control characters anyway
/// (`controlCharacter(in:)`): a newline in a value is never what the user meant.
public func shellQuote(_ s: String) -> String {
    // Checked per scalar: a regular expression's `$` also matches before a final newline.
    let plain = !s.isEmpty && s.unicodeScalars.allSatisfy { c in
        c.isASCII && (("a"..."z").contains(c) || ("A"..."Z").contains(c) || ("0"..."9").contains(c) || "_./:=+,-".unicodeScalars.contains(c))
    }
    return plain ? s : "'" + s.replacingOccurrences(of: "'", with: "'\\''") + "'"
}

/// The first control character of `s` (Unicode category Cc: C0 with NUL, newline, CR and tab;
/// DEL; C1), described for a message (`a newline (U+000A)`), or nil when `s` has none.
public func controlCharacter(in s: String) -> String? {
    guard let c = s.unicodeScalars.first(where: { $0.properties.generalCategory == .control }) else { return nil }
    let code = "U+" + String(repeating: "0", count: max(0, 4 - String(c.value, radix: 16).count)) + String(c.value, radix: 16, uppercase: true)
    let names: [UInt32: String] = [0: "a NUL", 9: "a tab", 10: "a newline", 13: "a carriage return", 27: "an escape", 127: "a DEL"]
    return "\(names[c.value] ?? "a control character") (\(code))"
}
