"""facetrail.eval"""
