/// Reading a program's registers pixel by pixel: what the attribution of a township's mean index
/// to the members of the model needs (`AttributionStage.swift` in Zoning).
extension ModelKernel {
    /// Evaluates the program over `count` pixels (inputs as for `run`) and calls `body` once per
    /// strip with the registers (register `r`, pixel `p` of the strip at `registers[r * stripLength + p]`),
    /// the strip's first pixel and its pixel count. Registers hold NaN where an input is nodata;
    /// the mask is not applied (the caller reads the published class raster for validity).
    public func forEachStrip(count: Int, inputs: [UnsafeBufferPointer<Float>],
                             _ body: (_ registers: UnsafePointer<Float>, _ start: Int, _ count: Int) -> Void) {
        strips(count: count, inputs: inputs, mask: nil) { regs, _, start, n in body(UnsafePointer(regs), start, n) }
    }
}
