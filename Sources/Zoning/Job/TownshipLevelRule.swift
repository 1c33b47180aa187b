extension JobSpec.TownshipLevel {
    /// The rule as stated in `stats.json`/`stats.csv` (`level_rule`), `township_levels.gpkg` and on
    /// the township map. `mean-index` is the default of every shipped job: the township's
    /// area-weighted mean index classified by the same breaks as its pixels, so township and pixel
    /// levels are on one scale and a township is not painted high by a small high corner (the
    /// share rule at 5 % painted 独贵塔拉镇 red although 86 % of it was in the lowest class).
    public var rule: String {
        switch self {
        case .meanIndex:
            return "mean-index: 乡镇面积加权平均指数按像元分级断点定级 the township's area-weighted mean index classified by the pixel breaks"
        case .highShare(let share):
            let pct = formatNumber(share * 100)
            return "high-share \(formatNumber(share)): 占乡镇面积至少\(pct)%的最高等级 the highest level reached by at least \(pct) % of the township's area"
        }
    }
}
