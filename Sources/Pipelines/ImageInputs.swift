import Datasets
import Foundation

/// The images a path names, with class indices where it has labels: one image file, a folder of
/// images (unlabeled), a folder with one subfolder per class, a CSV or a split file.
public func imageInputs(_ path: String, labelMap: LabelMap, imageFolder: String?) throws -> [(
  path: String, label: Int?
)] {
  var isDirectory: ObjCBool = false
  guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
    throw DatasetError(path: path, reason: "does not exist")
  }
  if !isDirectory.boolValue, DatasetSource.imageExtensions.contains((path as NSString).pathExtension.lowercased()) {
    return [(path, nil)]
  }
  if isDirectory.boolValue {
    let direct = try DatasetSource.images(in: path)
    if !direct.isEmpty { return direct.map { ($0, nil) } }
  }
  return try labelMap.apply(to: DatasetSource.load(path, imageFolder: imageFolder)).map {
    ($0.entry.path, $0.classIndex)
  }
}

/// Up to `limit` images, taken in turn from each class in the split's order, so that a split sorted
/// by class still gives every class its share. Unlabeled images count as one class.
public func balancedSelection(_ items: [(path: String, label: Int?)], limit: Int) -> [(path: String, label: Int?)] {
  guard items.count > limit else { return items }
  var queues: [Int?: [Int]] = [:]
  var order: [Int?] = []
  for (index, item) in items.enumerated() {
    if queues[item.label] == nil { order.append(item.label) }
    queues[item.label, default: []].append(index)
  }
  var chosen: [Int] = []
  var round = 0
  while chosen.count < limit {
    for label in order where chosen.count < limit {
      if let queue = queues[label], round < queue.count { chosen.append(queue[round]) }
    }
    round += 1
  }
  return chosen.sorted().map { items[$0] }
}
