import Pipelines
import RunFiles

// usage: TrainOS TRAIN_SPLIT [OUTPUT]: one epoch of ResNet-18 with the OS loss at 64 px.
var settings = ExperimentSettings()
settings.train = CommandLine.arguments[1]
settings.output = CommandLine.arguments.count > 2 ? CommandLine.arguments[2] : "runs/train-os"
settings.imageSize = 64
settings.training.epochs = 1
settings.training.lambda = 0.01
let run = try TrainingPipeline.train(settings, hooks: .init(output: PipelineOutput(message: { print($0) })))
print("trained \(run.summary.epochs.count) epoch(s) into \(run.folder.path)")
