import CCairo

/// A Cairo drawing context in page points, with Pango text. Internal: Cairo and Pango pointers
/// never leave this file's types.
///
/// Text metrics are made independent of the target (PDF or image) by switching font hinting off
/// and fixing Pango's resolution at 72 dpi (1 pt = 1 user unit), so a layout measured on one canvas
/// fits the same on every other.
final class Canvas {
    let cr: OpaquePointer
    let family: String
    private let fontOptions: OpaquePointer

    /// A context on `surface`, scaled so that user units are points (`scale` = device units per point).
    init(surface: OpaquePointer, scale: Double, family: String) throws {
        cr = cairo_create(surface)
        self.family = family
        fontOptions = cairo_font_options_create()
        cairo_font_options_set_hint_metrics(fontOptions, CAIRO_HINT_METRICS_OFF)
        cairo_font_options_set_hint_style(fontOptions, CAIRO_HINT_STYLE_NONE)
        cairo_font_options_set_antialias(fontOptions, CAIRO_ANTIALIAS_GRAY)
        cairo_scale(cr, scale, scale)
        try Canvas.check(cairo_status(cr), "cairo_create")
    }

    deinit {
        cairo_font_options_destroy(fontOptions)
        cairo_destroy(cr)
    }

    static func check(_ status: cairo_status_t, _ operation: String) throws {
        if status != CAIRO_STATUS_SUCCESS {
            throw MapError.cairo(operation: operation, status: String(cString: cairo_status_to_string(status)))
        }
    }

    func checkStatus(_ operation: String) throws { try Canvas.check(cairo_status(cr), operation) }

    // MARK: state and paths

    func save() { cairo_save(cr) }
    func restore() { cairo_restore(cr) }
    func translate(_ x: Double, _ y: Double) { cairo_translate(cr, x, y) }
    func rotate(degrees: Double) { cairo_rotate(cr, degrees * .pi / 180) }

    func color(_ c: RGB, alpha: Double = 1) {
        cairo_set_source_rgba(cr, Double(c.r) / 255, Double(c.g) / 255, Double(c.b) / 255, alpha)
    }

    func lineWidth(_ w: Double) { cairo_set_line_width(cr, w) }

    func dash(_ pattern: [Double]) {
        pattern.withUnsafeBufferPointer { cairo_set_dash(cr, $0.baseAddress, Int32($0.count), 0) }
    }

    func roundJoins() {
        cairo_set_line_join(cr, CAIRO_LINE_JOIN_ROUND)
        cairo_set_line_cap(cr, CAIRO_LINE_CAP_ROUND)
    }

    func buttJoins() {
        cairo_set_line_join(cr, CAIRO_LINE_JOIN_MITER)
        cairo_set_line_cap(cr, CAIRO_LINE_CAP_BUTT)
    }

    func rect(_ r: PageRect) { cairo_rectangle(cr, r.x, r.y, r.width, r.height) }
    func moveTo(_ p: PagePoint) { cairo_move_to(cr, p.x, p.y) }
    func lineTo(_ p: PagePoint) { cairo_line_to(cr, p.x, p.y) }
    func closePath() { cairo_close_path(cr) }
    func circle(_ c: PagePoint, radius: Double) {
        cairo_new_sub_path(cr)
        cairo_arc(cr, c.x, c.y, radius, 0, 2 * .pi)
    }

    func polyline(_ points: [PagePoint], closed: Bool = false) {
        guard let first = points.first else { return }
        cairo_new_sub_path(cr)
        moveTo(first)
        for p in points.dropFirst() { lineTo(p) }
        if closed { closePath() }
    }

    func stroke() { cairo_stroke(cr) }
    func strokePreserve() { cairo_stroke_preserve(cr) }
    func fill() { cairo_fill(cr) }
    func fillPreserve() { cairo_fill_preserve(cr) }
    func fillEvenOdd() {
        cairo_set_fill_rule(cr, CAIRO_FILL_RULE_EVEN_ODD)
        cairo_fill(cr)
        cairo_set_fill_rule(cr, CAIRO_FILL_RULE_WINDING)
    }
    func clip() { cairo_clip(cr) }
    func newPath() { cairo_new_path(cr) }

    func paint(_ c: RGB) {
        color(c)
        cairo_paint(cr)
    }

    func fillRect(_ r: PageRect, _ c: RGB) {
        color(c)
        rect(r)
        fill()
    }

    func strokeRect(_ r: PageRect, _ c: RGB, width: Double) {
        color(c)
        lineWidth(width)
        rect(r)
        stroke()
    }

    // MARK: images

    /// Draws a `width`×`height` image into `target` (page points), pixel edges on the rectangle,
    /// without interpolation (`CAIRO_FILTER_NEAREST`; in PDF `/Interpolate false`), so every pixel
    /// keeps its exact colour. `fillRow` writes one row of premultiplied ARGB32 values.
    func drawImage(width: Int, height: Int, into target: PageRect,
                   fillRow: (Int, UnsafeMutableBufferPointer<UInt32>) throws -> Void) throws {
        guard width > 0, height > 0 else { return }
        let image = cairo_image_surface_create(CAIRO_FORMAT_ARGB32, Int32(width), Int32(height))!
        defer { cairo_surface_destroy(image) }
        try Canvas.check(cairo_surface_status(image), "cairo_image_surface_create(\(width)×\(height))")
        cairo_surface_flush(image)
        let stride = Int(cairo_image_surface_get_stride(image))
        let data = cairo_image_surface_get_data(image)!
        for y in 0..<height {
            let row = UnsafeMutableRawPointer(data + y * stride).bindMemory(to: UInt32.self, capacity: width)
            try fillRow(y, UnsafeMutableBufferPointer(start: row, count: width))
        }
        cairo_surface_mark_dirty(image)
        save()
        cairo_translate(cr, target.x, target.y)
        cairo_scale(cr, target.width / Double(width), target.height / Double(height))
        cairo_set_source_surface(cr, image, 0, 0)
        cairo_pattern_set_filter(cairo_get_source(cr), CAIRO_FILTER_NEAREST)
        cairo_rectangle(cr, 0, 0, Double(width), Double(height))
        cairo_fill(cr)
        restore()
        try checkStatus("draw image")
    }

    // MARK: text

    enum Align { case left, center, right }

    /// A laid-out text (a `PangoLayout`), measured in points.
    final class Text {
        fileprivate let layout: OpaquePointer
        /// Logical width and height, in points.
        let width: Double
        let height: Double
        /// Distance from the top to the first line's baseline.
        let baseline: Double

        fileprivate init(layout: OpaquePointer) {
            self.layout = layout
            var ink = PangoRectangle(), logical = PangoRectangle()
            pango_layout_get_extents(layout, &ink, &logical)
            let scale = Double(PANGO_SCALE)
            width = Double(logical.width) / scale
            height = Double(logical.height) / scale
            baseline = Double(pango_layout_get_baseline(layout)) / scale
        }

        deinit { g_object_unref(UnsafeMutableRawPointer(layout)) }
    }

    /// Lays out `string` in the canvas family at `size` points; with `wrapWidth` lines wrap
    /// (at words, or between any CJK characters) and align within that width.
    func text(_ string: String, size: Double, bold: Bool = false, wrapWidth: Double? = nil,
              align: Align = .left, lineSpacing: Double? = nil) -> Text {
        let layout = pango_cairo_create_layout(cr)!
        let context = pango_layout_get_context(layout)
        pango_cairo_context_set_resolution(context, 72)
        pango_cairo_context_set_font_options(context, fontOptions)
        // Pango rounds glyph positions to whole units (here: points) by default, which spaces small
        // text unevenly; keep the exact advances.
        pango_context_set_round_glyph_positions(context, 0)
        pango_layout_context_changed(layout)
        let description = pango_font_description_new()!
        pango_font_description_set_family(description, family)
        pango_font_description_set_weight(description, bold ? PANGO_WEIGHT_BOLD : PANGO_WEIGHT_NORMAL)
        pango_font_description_set_absolute_size(description, size * Double(PANGO_SCALE))
        pango_layout_set_font_description(layout, description)
        pango_font_description_free(description)
        if let wrapWidth {
            pango_layout_set_width(layout, Int32(wrapWidth * Double(PANGO_SCALE)))
            pango_layout_set_wrap(layout, PANGO_WRAP_WORD_CHAR)
        }
        switch align {
        case .left: pango_layout_set_alignment(layout, PANGO_ALIGN_LEFT)
        case .center: pango_layout_set_alignment(layout, PANGO_ALIGN_CENTER)
        case .right: pango_layout_set_alignment(layout, PANGO_ALIGN_RIGHT)
        }
        if let lineSpacing { pango_layout_set_line_spacing(layout, Float(lineSpacing)) }
        pango_layout_set_text(layout, string, -1)
        return Text(layout: layout)
    }

    /// Draws a text with its top-left corner at `origin`; with a halo, a `haloWidth` outline of
    /// that colour goes underneath first (the text itself stays real, searchable PDF text).
    func draw(_ text: Text, at origin: PagePoint, color c: RGB, halo: RGB? = nil, haloWidth: Double = 2.4) {
        pango_cairo_update_layout(cr, text.layout)
        if let halo {
            save()
            cairo_move_to(cr, origin.x, origin.y)
            pango_cairo_layout_path(cr, text.layout)
            color(halo)
            lineWidth(haloWidth)
            roundJoins()
            stroke()
            restore()
        }
        color(c)
        cairo_move_to(cr, origin.x, origin.y)
        pango_cairo_show_layout(cr, text.layout)
        newPath()
    }
}
