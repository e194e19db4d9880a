/// Payloads from ../shared/reference/polymarket-api.md (verbatim, as captured live and trimmed there).
enum Fixtures {
    /// §3.4 (a): the Gamma event of btc-updown-5m-1778584200, pre-TWAP era.
    static let event5m = #"""
    {
      "id": "473573",
      "ticker": "btc-updown-5m-1778584200",
      "slug": "btc-updown-5m-1778584200",
      "title": "Bitcoin Up or Down - May 12, 7:10AM-7:15AM ET",
      "resolutionSource": "https://data.chain.link/streams/btc-usd",
      "startDate": "2026-05-11T11:21:20.025727Z",
      "endDate": "2026-05-12T11:15:00Z",
      "active": true,
      "closed": false,
      "enableOrderBook": true,
      "negRisk": false,
      "markets": [
        {
          "id": "2229686",
          "question": "Bitcoin Up or Down - May 12, 7:10AM-7:15AM ET",
          "conditionId": "0xa5c6d0c4cef71fe53c0235790b5568574343551fe67c62db39e9ebf3387b415a",
          "slug": "btc-updown-5m-1778584200",
          "resolutionSource": "https://data.chain.link/streams/btc-usd",
          "endDate": "2026-05-12T11:15:00Z",
          "startDate": "2026-05-11T11:18:23.695579Z",
          "outcomes": "[\"Up\", \"Down\"]",
          "outcomePrices": "[\"0.515\", \"0.485\"]",
          "active": true,
          "closed": false,
          "enableOrderBook": true,
          "orderPriceMinTickSize": 0.01,
          "orderMinSize": 5,
          "clobTokenIds": "[\"48418917734180607831833027288777571190488909295977497623601373906809754084036\", \"14943202171143669362180565155331992758433128192256190594100236888666963607938\"]",
          "acceptingOrders": true,
          "negRisk": false,
          "acceptingOrdersTimestamp": "2026-05-11T11:17:27Z",
          "eventStartTime": "2026-05-12T11:10:00Z",
          "feeType": "crypto_fees_v2"
        }
      ],
      "series": [
        {"id": "10684", "ticker": "btc-up-or-down-5m", "slug": "btc-up-or-down-5m", "title": "BTC Up or Down 5m", "seriesType": "single", "recurrence": "5m", "active": true, "closed": false}
      ],
      "seriesSlug": "btc-up-or-down-5m",
      "startTime": "2026-05-12T11:10:00Z"
    }
    """#

    /// §2.7 (a): GET /book for the Up token of the same market (trimmed to 3+3 levels per side).
    static let book5mUp = #"""
    {
      "market": "0xa5c6d0c4cef71fe53c0235790b5568574343551fe67c62db39e9ebf3387b415a",
      "asset_id": "48418917734180607831833027288777571190488909295977497623601373906809754084036",
      "timestamp": "1778584369464",
      "hash": "d52f3ca97fa4cd60ca64282ba1ecefcb373952a7",
      "bids": [
        {"price": "0.01", "size": "14468.29"},
        {"price": "0.02", "size": "2160.36"},
        {"price": "0.03", "size": "1428.72"},
        {"price": "0.22", "size": "229.9"},
        {"price": "0.23", "size": "20"},
        {"price": "0.24", "size": "25"}
      ],
      "asks": [
        {"price": "0.99", "size": "12884.26"},
        {"price": "0.98", "size": "2464.68"},
        {"price": "0.97", "size": "2024.8"},
        {"price": "0.28", "size": "15"},
        {"price": "0.27", "size": "6"},
        {"price": "0.25", "size": "5"}
      ],
      "min_order_size": "5",
      "tick_size": "0.01",
      "neg_risk": false,
      "last_trade_price": "0.280"
    }
    """#

    /// §2.7: the official Rust client's mock body (no hash, bids or last_trade_price).
    static let rustMockBooks = #"[{"market":"market","asset_id":"asset","tick_size":"0.01","min_order_size":"5","neg_risk":false,"timestamp":"1","asks":[{"price":"2","size":"1"}]}]"#

    static let upToken = "48418917734180607831833027288777571190488909295977497623601373906809754084036"
    static let downToken = "14943202171143669362180565155331992758433128192256190594100236888666963607938"
}
