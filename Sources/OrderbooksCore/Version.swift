public enum OrderbooksVersion {
    public static let current = "0.1.0"
}
