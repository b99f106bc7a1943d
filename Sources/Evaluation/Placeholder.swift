// Evaluation metrics
