"""Y-Net: joint lymph-node segmentation and benign/malignant classification."""
