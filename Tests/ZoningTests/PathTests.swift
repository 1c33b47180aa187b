import FilePaths
import Foundation
import Testing
@testable import Zoning

/// The path helpers (`Support/Path.swift`) give what NSString gives, input by input.
struct PathTests {
    static let paths = ["", "/", "//", "///", "a", "/a", "a/", "/a/", "ab", "a/b", "/a/b", "a/b/", "a//b", "//a//b//",
                        "a/b.tif", "/x/y.tar.gz", ".profile", "a/.profile", "b.", "a/b.", "..", "a/..", "...", ".", "./a",
                        "../a.b/c", "a.b/c", "/a.b/", "jobs/x.yaml", "/tmp/hz-test/layers/../jobs/j.yaml", "a/b/.",
                        "é/ü.tif", "a b/c d.e", "/vsicurl/https://example.org/a.tif"]
    static let components = ["", "b", "/b", "b/", "b.yaml", "//b//", "c/d", ".."]

    @Test(arguments: paths) func helpersEqualNSString(_ path: String) {
        let ns = path as NSString
        // NSString traps on the parent of a one-letter relative path (checked below instead).
        if path.count > 1 && !(path.count == 2 && path.hasSuffix("/")) {
            #expect(path.parentPath == ns.deletingLastPathComponent, "parent of \"\(path)\"")
        }
        #expect(path.fileName == ns.lastPathComponent, "file name of \"\(path)\"")
        #expect(path.fileExtension == ns.pathExtension, "extension of \"\(path)\"")
        #expect(path.removingExtension == ns.deletingPathExtension, "\"\(path)\" without extension")
        for component in Self.components {
            #expect(path.appendingComponent(component) == ns.appendingPathComponent(component), "\"\(path)\" + \"\(component)\"")
        }
    }

    @Test func literalCases() {
        #expect("a".parentPath == "")
        #expect("a/".parentPath == "")
        #expect("/a".parentPath == "/")
        #expect("/".parentPath == "/")
        #expect("".parentPath == "")
        #expect("/a/b/c/".parentPath == "/a/b")
        #expect("".appendingComponent("b") == "b")
        #expect("a/".appendingComponent("b") == "a/b")
        #expect("/".appendingComponent("b") == "/b")
        #expect("a".appendingComponent("") == "a")
        #expect("/p/layers/x.yaml".fileName == "x.yaml")
        #expect("/p/layers/x.yaml".fileExtension == "yaml")
        #expect("/p/layers/x.yaml".removingExtension == "/p/layers/x")
        #expect("/p/a.tar.gz".removingExtension == "/p/a.tar")
    }
}
