import Glibc

extension String {
    /// Without leading and trailing ASCII spaces, tabs, CRs and LFs.
    package var trimmingWhitespace: String {
        let scalars = unicodeScalars
        let isSpace: (Unicode.Scalar) -> Bool = { $0 == " " || $0 == "\t" || $0 == "\r" || $0 == "\n" }
        guard let first = scalars.firstIndex(where: { !isSpace($0) }) else { return "" }
        let last = scalars.lastIndex(where: { !isSpace($0) })!
        return String(scalars[first...last])
    }

    /// Zero-padded on the left to `width` characters (hex run ids have a fixed width).
    package func leftPadded(_ width: Int) -> String {
        count >= width ? self : String(repeating: "0", count: width - count) + self
    }
}

extension String {
    /// `value` with `places` decimals (1 to 9), rounded half away from zero; without
    /// Foundation's String(format:). "inf" or "nan" when it is not finite or beyond 1e15.
    package init(decimal value: Double, places: Int) {
        let scale = (0..<places).reduce(Int64(1)) { product, _ in product * 10 }
        let scaled = (value * Double(scale)).rounded()
        guard scaled.isFinite, abs(scaled) < 1e15 else {
            self = value.isNaN ? "nan" : value < 0 ? "-inf" : "inf"
            return
        }
        let n = Int64(scaled)
        self = (n < 0 ? "-" : "") + "\(abs(n) / scale)." + String(abs(n) % scale).leftPadded(places)
    }
}

extension String {
    /// Whether `a` sorts before `b` by their UTF-8 bytes (memcmp): String's own order for ASCII,
    /// without its Unicode comparison (a listing of 3,600 names sorts in a fraction of the time).
    package static func bytewiseLess(_ a: String, _ b: String) -> Bool {
        var (a, b) = (a, b)
        return a.withUTF8 { x in
            b.withUTF8 { y in
                let common = Swift.min(x.count, y.count)
                let order = common == 0 ? 0 : memcmp(x.baseAddress!, y.baseAddress!, common)
                return order != 0 ? order < 0 : x.count < y.count
            }
        }
    }
}
