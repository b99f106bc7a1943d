import Randomness

/// A share of a training split, for learning curves and data-scarcity experiments
/// (`train-fraction` of the experiment settings).
///
/// The subset is class-stratified (each class keeps about the same share) and drawn by patient: all
/// images of a patient are in or out together, so that a subset never holds one patient's images
/// only partly. A patient counts for the class most of their images have. The draw depends only on
/// the entries and the seed, so every configuration of one seed trains on the same images, and the
/// subsets of one seed are nested: the 10% subset lies inside the 25% one.
public enum TrainingSubset {
  /// The entries of the subset, in the split's order. Each class keeps at least one patient; a class
  /// gets whole patients until it reaches `fraction` of its images, so it may hold a few more.
  public static func draw(_ entries: [LabeledEntry], fraction: Double, seed: UInt64) -> [LabeledEntry] {
    guard fraction < 1 else { return entries }
    var patients: [String: [Int]] = [:]
    var patientOrder: [String] = []
    for (index, entry) in entries.enumerated() {
      if patients[entry.entry.patientID] == nil { patientOrder.append(entry.entry.patientID) }
      patients[entry.entry.patientID, default: []].append(index)
    }
    // Each patient's class: the one most of their images have (the lowest index on a tie).
    var patientsByClass: [Int: [String]] = [:]
    for patient in patientOrder {
      var counts: [Int: Int] = [:]
      for index in patients[patient]! { counts[entries[index].classIndex, default: 0] += 1 }
      let classIndex = counts.max { $0.value < $1.value || ($0.value == $1.value && $0.key > $1.key) }!.key
      patientsByClass[classIndex, default: []].append(patient)
    }
    var chosen = Set<Int>()
    for classIndex in patientsByClass.keys.sorted() {
      var members = patientsByClass[classIndex]!
      // Fisher–Yates with SplitMix64, written out: the standard library's shuffle may change between
      // Swift versions, and a subset must be the same wherever it is drawn.
      var random = SplitMix64(seed: seed ^ 0x5DEE_CE66_D1CE_4E5B ^ UInt64(classIndex) &* 0x9E37_79B9_7F4A_7C15)
      for index in stride(from: members.count - 1, to: 0, by: -1) {
        members.swapAt(index, Int(random.next() % UInt64(index + 1)))
      }
      let images = members.reduce(0) { $0 + patients[$1]!.count }
      let target = max(1, Int((fraction * Double(images)).rounded()))
      var taken = 0
      for patient in members where taken < target {
        chosen.formUnion(patients[patient]!)
        taken += patients[patient]!.count
      }
    }
    return entries.indices.filter { chosen.contains($0) }.map { entries[$0] }
  }
}
