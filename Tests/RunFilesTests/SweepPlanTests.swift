import Foundation
import Testing

@testable import RunFiles

/// Expanding a sweep file: combinations, names, the settings each run gets, references, and errors.
@Suite struct SweepPlanTests {
  let base = """
    model: {model: resnet18, image-size: 64}
    data: {train: t.txt, val: v.txt, test: s.txt}
    loss: {lambda: 0.01, os-variant: batch}
    schedule: {epochs: 4}
    output: runs/sweep

    """

  func plan(_ text: String) throws -> SweepPlan { try SweepPlan.parse(yaml: base + text, source: "sweep.yaml") }

  func reason(_ text: String) -> String {
    do {
      _ = try plan(text)
      return "no error"
    } catch {
      return "\(error)"
    }
  }

  @Test func aProductGridGivesEveryCombinationAndSeedItsOwnSettingsAndFolder() throws {
    let sweep = try plan(
      """
      grid: {lambda: [0, 0.03], no-augmentation: [false, true]}
      seeds: [0, 5]
      baseline: {lambda: 0}
      """)
    #expect(sweep.output == "runs/sweep")
    #expect(
      sweep.combinations.map(\.name) == [
        "lambda-0_no-augmentation-false", "lambda-0_no-augmentation-true", "lambda-0.03_no-augmentation-false",
        "lambda-0.03_no-augmentation-true",
      ])
    #expect(sweep.runs.count == 8)
    let run = try #require(sweep.runs.first { $0.combination == 3 && $0.seed == 5 })
    #expect(run.folder.path == "runs/sweep/lambda-0.03_no-augmentation-true/seed-5")
    #expect(run.settings.output == run.folder.path)
    #expect(run.settings.training.seed == 5 && run.settings.seeds == nil)
    // The grid's value replaced the one in the loss: section; the rest of the file is kept.
    #expect(run.settings.training.lambda == 0.03 && !run.settings.augmentation)
    #expect(run.settings.training.epochs == 4 && run.settings.imageSize == 64 && run.settings.test == "s.txt")
    // Each OS combination is compared with the baseline of the same augmentation.
    #expect(sweep.references == [nil, nil, 0, 1])
  }

  @Test func aListGridIsTheUnionOfItsProductsAndNamesSpellWhatVaries() throws {
    let sweep = try plan(
      """
      grid:
        - {lambda: [0]}
        - {lambda: [0.01], os-variant: [feature, "blocks(4)"]}
        - {lambda: [0.003]}
      baseline: {lambda: 0}
      """)
    #expect(
      sweep.combinations.map(\.name) == [
        "lambda-0", "lambda-0.01_os-variant-feature", "lambda-0.01_os-variant-blocks-4", "lambda-0.003",
      ])
    #expect(sweep.combinations[2].settings.training.osVariant == .blocks(4))
    #expect(sweep.combinations[3].settings.training.osVariant == .batch, "left out of the entry: the file's value")
    #expect(sweep.seeds == [0], "without seeds: the file's seed")
    #expect(sweep.references == [nil, 0, 0, 0])
    #expect(sweep.baseline.map(\.description) == ["lambda 0"])
  }

  @Test func theNewSettingsOfTrainingLengthAndSubsetsReadAndCheck() throws {
    let sweep = try plan(
      """
      grid: {train-fraction: [0.1, 1], steps: [500]}
      validate-every: 5
      """)
    #expect(sweep.combinations.map(\.settings.trainFraction) == [0.1, 1])
    #expect(
      sweep.combinations.allSatisfy { $0.settings.training.steps == 500 && $0.settings.training.validateEvery == 5 })
    #expect(sweep.combinations.map(\.name) == ["train-fraction-0.1", "train-fraction-1"])
    #expect(sweep.references == [nil, nil], "no baseline, no comparisons")
    // Settings that go with another are left out of the names when those stay apart without them.
    let paired = try plan(
      """
      grid:
        - {train-fraction: [0.1], validate-every: [10], warmup-epochs: [10]}
        - {train-fraction: [1], validate-every: [1], warmup-epochs: [1]}
      """)
    #expect(paired.combinations.map(\.name) == ["train-fraction-0.1", "train-fraction-1"])
    #expect(paired.combinations[0].settings.training.warmupEpochs == 10)
    #expect(reason("grid: {train-fraction: [0, 0.5]}").contains("--train-fraction must be above 0"))
    #expect(reason("grid: {steps: [0]}").contains("--steps must be positive"))
  }

  @Test func mistakesAreNamed() {
    #expect(reason("seeds: [0]").contains("a sweep needs a grid: section"))
    #expect(reason("grid: {seeds: [0, 1]}").contains("list the seeds in seeds:"))
    #expect(reason("grid: {lamda: [0, 1]}").contains("unknown setting \"lamda\""))
    #expect(reason("grid: {lambda: [0, 0.0]}").contains("are the same run"))
    #expect(
      reason("grid: {lambda: [0.01, 0.03]}\nbaseline: {lambda: 0}").contains(
        "no combination of the grid is the baseline"))
    #expect(reason("grid: {lambda: [[0, 1]]}").contains("must be single values"))
    #expect(reason("grid: []").contains("empty list"))
    #expect(reason("grid: {lambda: [0]}\nbaseline: 0").contains("baseline: must be a mapping"))
  }

  @Test func keyedValuesTellSettingsApart() {
    var first = ExperimentSettings()
    var second = first
    second.training.lambda = 0.5
    #expect(first.keyedValues()["lambda"] != second.keyedValues()["lambda"])
    #expect(first.keyedValues()["epochs"] == second.keyedValues()["epochs"])
    first.trainFraction = 0.25
    #expect(first.keyedValues()["train-fraction"] == "0.25")
  }
}

/// `explain --compare`'s terminal table keeps a long model name whole, apart from the next column.
@Suite struct ExplanationComparisonTableTests {
  @Test func longNamesAreNeitherCutNorGlued() throws {
    let json = """
      {"names": ["baseline", "lambda-0.003_os-variant-batch"], "rows": [{"metric": "deletion AUC",
      "higherIsBetter": false, "first": 0.8144, "second": 0.8385, "difference": 0.0241, "low": 0.0042,
      "high": 0.0437, "images": 150}]}
      """
    let table = try JSONDecoder().decode(ExplanationComparison.self, from: Data(json.utf8)).render()
    let lines = table.split(separator: "\n").map(String.init)
    #expect(lines[0].contains("lambda-0.003_os-variant-batch  difference (95% CI)"), "\(lines[0])")
    // The numbers stand under their names.
    let secondColumn = try #require(lines[0].range(of: "lambda-0.003")).lowerBound.utf16Offset(in: lines[0])
    let secondValue = try #require(lines[1].range(of: "0.8385")).lowerBound.utf16Offset(in: lines[1])
    #expect(secondColumn == secondValue)
  }
}
