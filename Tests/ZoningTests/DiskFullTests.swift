import Foundation
import GDALKit
import Testing
@testable import Zoning

/// A full disk (a 2 MiB tmpfs mounted for the test; needs root, else the test says so and stops —
/// `OperationTests.aFullDiskGivesACleanErrorAndPublishesNothing` covers RLIMIT_FSIZE without root).
@Suite(.serialized) struct DiskFullTests {
    @Test func aFullFileSystemIsExit74WithOneLine() throws {
        let fx = try Fixture(resolution: 10)
        let mount = FileManager.default.temporaryDirectory.appendingPathComponent("hz-full-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: mount, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: mount) }
        let (mounted, _, why) = try runProcess("/bin/mount", ["-t", "tmpfs", "-o", "size=2m", "tmpfs", mount])
        guard mounted == 0 else {
            print("DiskFullTests: cannot mount a tmpfs here (\(why.trimmingCharacters(in: .whitespacesAndNewlines))); RLIMIT_FSIZE is tested instead")
            return
        }
        defer { _ = try? runProcess("/bin/umount", [mount]) }
        let out = mount + "/runs"
        let (status, reason, _, err) = try runProcessWithTimeout(BadInputTests.executable,
                                                                  ["run", fx.jobPath, "--threads", "2", "--output", out], seconds: 120)
        #expect(reason == .exit && status == 74, "\(status) \(err)")
        let lines = err.split(separator: "\n")
        #expect(lines.count == 1 && err.contains(out) && err.lowercased().contains("no space left on device"), "\(err)")
        // Nothing published, the staging folder removed.
        let left = (try? FileManager.default.contentsOfDirectory(atPath: out)) ?? []
        #expect(left.filter { $0 != ".lock" }.isEmpty, "\(left)")
    }
}
