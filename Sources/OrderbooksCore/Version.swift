public enum OrderbooksVersion {
    public static let current = "0.2.0"
}
