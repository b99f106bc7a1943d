import Testing

@testable import Datasets

/// `train-fraction`: a class-stratified subset drawn by patient, fixed by the seed, nested across
/// fractions.
@Suite struct TrainingSubsetTests {
  /// Class 0: 40 patients with one image and 10 with two (60 images); class 1: 30 patients with one
  /// image; class 2: 10.
  let entries: [LabeledEntry] = {
    var entries: [LabeledEntry] = []
    func add(_ patient: String, _ classIndex: Int) {
      let label = ["COVID-19", "normal", "pneumonia"][classIndex]
      entries.append(
        LabeledEntry(
          entry: DatasetEntry(patientID: patient, path: "/x/\(patient)-\(entries.count).png", label: label),
          classIndex: classIndex))
    }
    for index in 0..<50 {
      add("a\(index)", 0)
      if index % 5 == 0 { add("a\(index)", 0) }
    }
    for index in 0..<30 { add("b\(index)", 1) }
    for index in 0..<10 { add("c\(index)", 2) }
    return entries
  }()

  @Test func eachClassKeepsItsShareWithWholePatients() {
    let subset = TrainingSubset.draw(entries, fraction: 0.25, seed: 3)
    let counts = (0..<3).map { classIndex in subset.filter { $0.classIndex == classIndex }.count }
    // Targets: 15 of 60, 8 of 30 (7.5 rounded), 3 of 10 (2.5 rounded); a two-image patient may add one.
    #expect((15...16).contains(counts[0]))
    #expect(counts[1] == 8)
    #expect(counts[2] == 3)
    let chosenPatients = Set(subset.map(\.entry.patientID))
    #expect(
      entries.filter { chosenPatients.contains($0.entry.patientID) } == subset, "patients whole, split order kept")
  }

  @Test func theSeedDecidesTheSubsetAndSmallerFractionsLieInsideLargerOnes() {
    let first = TrainingSubset.draw(entries, fraction: 0.25, seed: 3)
    #expect(TrainingSubset.draw(entries, fraction: 0.25, seed: 3) == first)
    #expect(TrainingSubset.draw(entries, fraction: 0.25, seed: 4) != first)
    let smaller = Set(TrainingSubset.draw(entries, fraction: 0.1, seed: 3))
    #expect(smaller.isSubset(of: Set(first)) && smaller.count < first.count)
    #expect(TrainingSubset.draw(entries, fraction: 1, seed: 3) == entries)
    let tiny = TrainingSubset.draw(entries, fraction: 0.001, seed: 3)
    #expect(Set(tiny.map(\.classIndex)) == [0, 1, 2], "every class keeps at least one patient")
  }
}
