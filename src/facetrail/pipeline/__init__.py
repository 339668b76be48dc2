"""facetrail.pipeline"""
